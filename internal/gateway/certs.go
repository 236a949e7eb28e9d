package gateway

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/acme"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
)

// startACME opens the store and makes the manager of the listener's
// managed certificates (server.tls.acme); obtaining starts with the
// listeners (Start).
func (g *Gateway) startACME(cfg *config.Config) error {
	a := cfg.Server.TLS.ACME
	d, err := g.opts.Stores.Open(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("the store that keeps managed certificates: %w", err)
	}
	port := func(addrs []string) int {
		if len(addrs) == 0 {
			return 0
		}
		_, p, _ := net.SplitHostPort(addrs[0])
		n, _ := strconv.Atoi(p)
		return n
	}
	caRoot := ""
	if a.CARoot != "" {
		caRoot = cfg.Path(a.CARoot)
	}
	m, err := acme.New(acme.Options{Config: a, CARoot: caRoot, Store: d, HTTPPort: port(cfg.Server.Listen), TLSPort: port(cfg.Server.TLS.Listen),
		Log: g.log, Publish: g.bus.Publish, Changed: g.checkCertificates})
	if err != nil {
		_ = d.Close()
		return err
	}
	g.acme, g.acmeStore = m, d
	return nil
}

// stopACME stops renewing and closes the store it used.
func (g *Gateway) stopACME() {
	if g.acme != nil {
		g.acme.Close()
		_ = g.acmeStore.Close()
		g.acme = nil
	}
}

// acmeChallenge answers a request under the ACME http-01 challenge path,
// before any routing: the path is the CA's while the gateway manages
// certificates, so a token it does not know gets a 404, never a route.
func (g *Gateway) acmeChallenge(w http.ResponseWriter, r *http.Request) bool {
	if g.acme == nil || !strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
		return false
	}
	if !g.acme.HandleHTTPChallenge(w, r) {
		problem.Write(w, problem.New(problem.NotFound, "No ACME challenge of that token is pending here."), "")
	}
	return true
}

// listenerCertificate is one certificate the listeners serve.
type listenerCertificate struct {
	name, source string
	notAfter     time.Time
}

// listenerCertificates are the certificates the listeners serve now:
// the current snapshot's files and the managed ones.
func (g *Gateway) listenerCertificates() []listenerCertificate {
	var out []listenerCertificate
	if s := g.current.Load(); s != nil && s.tls != nil {
		for _, c := range s.tls.Certificates {
			leaf := c.Leaf
			if leaf == nil && len(c.Certificate) > 0 {
				leaf, _ = x509.ParseCertificate(c.Certificate[0])
			}
			if leaf == nil {
				continue
			}
			name := leaf.Subject.CommonName
			if len(leaf.DNSNames) > 0 {
				name = leaf.DNSNames[0]
			}
			out = append(out, listenerCertificate{name: name, source: "file", notAfter: leaf.NotAfter})
		}
	}
	if g.acme != nil {
		for _, m := range g.acme.Certificates() {
			out = append(out, listenerCertificate{name: m.Name, source: "acme", notAfter: m.NotAfter})
		}
	}
	return out
}

// checkCertificates asks the watch to look at the certificates now.
func (g *Gateway) checkCertificates() {
	select {
	case g.certCheck <- struct{}{}:
	default: // a check is pending already
	}
}

// watchCertificates keeps the expiry metric of every listener
// certificate current and raises a tls.certificate_expiring event, once a
// day per certificate, while one expires within server.tls.expiry_warning.
func (g *Gateway) watchCertificates(every time.Duration) {
	warned := map[string]time.Time{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		cfg := g.Config()
		if cfg.Server.TLS != nil {
			now := time.Now()
			for _, c := range g.listenerCertificates() {
				g.metrics.CertificateExpiry(c.name, c.source, c.notAfter)
				left := c.notAfter.Sub(now)
				key := c.source + "/" + c.name + "/" + c.notAfter.String()
				if left > cfg.Server.TLS.ExpiryWarning.D() || now.Sub(warned[key]) < 24*time.Hour {
					continue
				}
				warned[key] = now
				detail := fmt.Sprintf("The listener certificate for %s (%s) expires on %s, in %s.", c.name, c.source, c.notAfter.UTC().Format(time.RFC3339), left.Round(time.Hour))
				if left <= 0 {
					detail = fmt.Sprintf("The listener certificate for %s (%s) expired on %s.", c.name, c.source, c.notAfter.UTC().Format(time.RFC3339))
				}
				if c.source == "acme" {
					detail += " Its renewal has not succeeded: see tls.certificate_failed events."
				} else {
					detail += " Replace the file; the gateway reloads it when it changes."
				}
				g.bus.Publish(observe.Event{Type: "tls.certificate_expiring", Reason: "expiring", Stage: "tls", Rule: c.name, Detail: detail})
			}
		}
		select {
		case <-g.stopSweep:
			return
		case <-t.C:
		case <-g.certCheck:
		}
	}
}
