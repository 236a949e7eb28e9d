// Package acme manages a listener's certificates with an ACME CA (RFC
// 8555) through certmagic: obtained at start, renewed ahead of expiry,
// served from memory during handshakes, kept in Rampart's store so that
// the nodes sharing a store share them (one node obtains under a lease,
// the others load what it stored). A renewal swaps the certificate in
// the handshake path without a restart; a failed one keeps the old
// certificate and raises an event.
package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/store"
)

// Options configure a Manager.
type Options struct {
	Config *config.ACME
	// CARoot is the path of Config.CARoot, resolved against the config's
	// directory.
	CARoot string
	Store  store.Blobs
	// HTTPPort and TLSPort are the gateway's cleartext and TLS listener
	// ports, where the challenges are answered.
	HTTPPort, TLSPort int
	Log               *slog.Logger
	// Publish puts an event on the gateway's bus.
	Publish func(observe.Event)
	// Changed is told when a certificate enters the handshake path (it
	// must not block); may be nil.
	Changed func()
}

// Manager holds the managed certificates.
type Manager struct {
	o      Options
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	alpn   bool
	cancel context.CancelFunc
}

// New returns a manager; Start begins obtaining.
func New(o Options) (*Manager, error) {
	a := o.Config
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Publish == nil {
		o.Publish = func(observe.Event) {}
	}
	m := &Manager{o: o, alpn: slices.Contains(a.Challenges, "tls-alpn-01")}
	logger := zap.NewNop()
	storage := newStorage(o.Store)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.magic, nil },
		Logger:           logger,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage:            storage,
		RenewalWindowRatio: a.RenewalRatio,
		Logger:             logger,
		OnEvent:            m.event,
	})
	var roots *x509.CertPool
	if o.CARoot != "" {
		pem, err := os.ReadFile(o.CARoot)
		if err != nil {
			return nil, err
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", o.CARoot)
		}
	}
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:                      a.CA,
		Email:                   a.Email,
		Agreed:                  a.AcceptTerms,
		DisableHTTPChallenge:    !slices.Contains(a.Challenges, "http-01"),
		DisableTLSALPNChallenge: !m.alpn,
		// the gateway's own listeners answer the challenges: certmagic
		// finds their ports taken and leaves them to HandleHTTPChallenge
		// and GetCertificate
		AltHTTPPort:    o.HTTPPort,
		AltTLSALPNPort: o.TLSPort,
		TrustedRoots:   roots,
		Logger:         logger,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// Start begins obtaining (or loading from the store) the certificates of
// every domain, and keeps renewing them until Close. It returns at once:
// the http-01 challenge needs the gateway's listeners serving.
func (m *Manager) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	return m.magic.ManageAsync(ctx, m.o.Config.Domains)
}

// Close stops renewing.
func (m *Manager) Close() {
	if m.cancel != nil {
		m.cancel()
	}
	m.cache.Stop()
}

// ALPN reports whether the TLS listener must offer acme-tls/1, the
// protocol of the tls-alpn-01 challenge.
func (m *Manager) ALPN() bool { return m.alpn }

// GetCertificate is the TLS listener's certificate for a handshake: the
// managed one for the name asked, or the tls-alpn-01 challenge's.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.magic.GetCertificate(hello)
}

// HandleHTTPChallenge answers an http-01 challenge request and reports
// whether r was one.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	return m.issuer.HandleHTTPChallenge(w, r)
}

// Managed is one managed certificate's leaf, for the expiry watch.
type Managed struct {
	Name     string
	NotAfter time.Time
}

// Certificates are the managed certificates in memory now.
func (m *Manager) Certificates() []Managed {
	var out []Managed
	for _, d := range m.o.Config.Domains {
		for _, c := range m.cache.AllMatchingCertificates(d) {
			if c.Leaf != nil {
				out = append(out, Managed{Name: d, NotAfter: c.Leaf.NotAfter})
			}
		}
	}
	return out
}

// event turns certmagic's events into the gateway's: a certificate
// obtained or renewed, and a failure to (the old certificate, if any,
// keeps serving).
func (m *Manager) event(_ context.Context, name string, data map[string]any) error {
	id, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch name {
	case "cached_managed_cert":
		if m.o.Changed != nil {
			m.o.Changed()
		}
	case "cert_obtained":
		what := "obtained"
		if renewal {
			what = "renewed"
		}
		m.o.Log.Info("tls certificate "+what, "domain", id)
		m.o.Publish(observe.Event{Type: "tls.certificate_obtained", Reason: what, Stage: "tls", Rule: id,
			Detail: fmt.Sprintf("The certificate for %s was %s from the ACME CA.", id, what)})
	case "cert_failed":
		err, _ := data["error"].(error)
		detail := fmt.Sprintf("The certificate for %s could not be obtained from the ACME CA: %v. It is retried with back-off.", id, err)
		reason := "obtain_failed"
		if renewal {
			reason = "renewal_failed"
			detail = fmt.Sprintf("The certificate for %s could not be renewed: %v. The current certificate keeps serving until it expires; renewal is retried with back-off.", id, err)
		}
		m.o.Log.Warn("tls certificate "+reason, "domain", id, "error", err)
		m.o.Publish(observe.Event{Type: "tls.certificate_failed", Reason: reason, Stage: "tls", Rule: id, Detail: detail})
	}
	return nil
}
