package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/breaker"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/pki"
)

// Pool is a compiled upstream: its targets, balancer, transport, retry
// policy and health checker. A Pool is shared by every route that names
// its upstream and is reused across reloads while its definition is
// unchanged, so health and breaker state survive.
type Pool struct {
	Name      string
	targets   []*Target
	bal       balancer
	transport *transport
	retry     retryPolicy
	budget    *Budget
	timeout   time.Duration // whole exchange; 0 for none
	grpc      bool          // protocol grpc: gRPC health checks
	log       *slog.Logger
	observer  interface{ Observe(float64) }
	onRetry   func(upstream, result string)
	onError   func(upstream, kind string)

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type retryPolicy struct {
	attempts      int
	connect       bool
	reset         bool
	timeout       bool
	statuses      [100]bool // 500-599
	nonIdempotent bool
}

// Options are the pool's dependencies beyond its config.
type Options struct {
	// Path resolves a file path from the config (relative to its file).
	Path    func(string) string
	Log     *slog.Logger
	Metrics *observe.Metrics // may be nil
	// KeyPair loads a client certificate and its key from the settings
	// as written (a key may be a pkcs11: URI, in a token); default: PEM
	// files, resolved with Path.
	KeyPair func(certFile, keyFile string) (tls.Certificate, error)
}

// NewPool compiles u. Start must be called to run active health checks.
func NewPool(name string, u *config.Upstream, o Options) (*Pool, error) {
	p := &Pool{Name: name, log: o.Log, timeout: u.Timeouts.Request.D(), grpc: u.Protocol == "grpc"}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics != nil {
		p.observer = o.Metrics.Upstream(name)
		p.onRetry = o.Metrics.Retry
		p.onError = o.Metrics.UpstreamError
	}
	for _, tc := range u.Targets {
		t, err := newTarget(tc, u)
		if err != nil {
			return nil, fmt.Errorf("upstream %s: target %s: %w", name, tc.URL, err)
		}
		p.targets = append(p.targets, t)
	}
	switch u.Balancer {
	case "least_requests":
		p.bal = leastRequests{}
	case "random":
		p.bal = newRandomP2C(p.targets)
	case "consistent_hash":
		p.bal = newConsistentHash(p.targets, hashKeyFunc(u.HashKey))
	default:
		p.bal = newRoundRobin(p.targets)
	}
	rp := retryPolicy{attempts: *u.Retries.Attempts, nonIdempotent: u.Retries.NonIdempotent}
	for _, on := range u.Retries.On {
		switch on {
		case "connect_failure":
			rp.connect = true
		case "reset":
			rp.reset = true
		case "timeout":
			rp.timeout = true
		default:
			if st, err := strconv.Atoi(on); err == nil && st >= 500 && st <= 599 {
				rp.statuses[st-500] = true
			}
		}
	}
	p.retry = rp
	p.budget = NewBudget(u.Retries.Budget.Ratio, u.Retries.Budget.MinPerSecond)
	std, err := newTransport(u, o)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", name, err)
	}
	p.transport = &transport{std: std}
	if u.Protocol == "" || u.Protocol == "http1" {
		// HTTP/1.1 goes through the synchronous client and its codec,
		// over TLS too; HTTP/2 through net/http's Transport.
		p.transport.fast = newH1Transport(std.DialContext, u.MaxIdleConns, u.Timeouts.ResponseHeader.D(), int64(u.MaxResponseHeaderBytes))
		if std.TLSClientConfig != nil {
			tc := std.TLSClientConfig.Clone()
			tc.NextProtos = []string{"http/1.1"}
			if u.Protocol == "" {
				tc.NextProtos = []string{"h2", "http/1.1"} // as the Transport offers: HTTP/2 where the target has it
			}
			p.transport.fast.withTLS(tc, u.Timeouts.Connect.D())
		}
	}
	return p, nil
}

func newTransport(u *config.Upstream, o Options) (*http.Transport, error) {
	dialer := &net.Dialer{Timeout: u.Timeouts.Connect.D(), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                  nil, // never route upstream traffic through an environment proxy
		DialContext:            dialer.DialContext,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    u.MaxIdleConns,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  u.Timeouts.ResponseHeader.D(),
		TLSHandshakeTimeout:    u.Timeouts.Connect.D(),
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // pass the client's Accept-Encoding through untouched
		MaxResponseHeaderBytes: int64(u.MaxResponseHeaderBytes),
		WriteBufferSize:        16 << 10,
		ReadBufferSize:         16 << 10,
	}
	if u.TLS != nil || hasHTTPS(u) {
		tc, err := upstreamTLS(u.TLS, o)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
		tr.ForceAttemptHTTP2 = true
	}
	var protos http.Protocols
	switch u.Protocol {
	case "http1":
		protos.SetHTTP1(true)
	case "h2":
		protos.SetHTTP2(true)
	case "h2c":
		protos.SetUnencryptedHTTP2(true) // prior knowledge: no Upgrade dance
	case "grpc":
		protos.SetHTTP2(true)
		protos.SetUnencryptedHTTP2(true)
	default:
		return tr, nil // HTTP/1.1, or HTTP/2 where a TLS target offers it
	}
	tr.Protocols = &protos
	return tr, nil
}

func hasHTTPS(u *config.Upstream) bool {
	for _, t := range u.Targets {
		if strings.HasPrefix(t.URL, "https://") {
			return true
		}
	}
	return false
}

func upstreamTLS(c *config.UpstreamTLS, o Options) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c == nil {
		return tc, nil
	}
	if c.MinVersion == "1.3" {
		tc.MinVersion = tls.VersionTLS13
	}
	tc.ServerName = c.ServerName
	path := o.Path
	if path == nil {
		path = func(s string) string { return s }
	}
	if c.CAFile != "" {
		pool, err := pki.CertPool(path(c.CAFile))
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file %w", err)
		}
		tc.RootCAs = pool
	}
	keyPair := o.KeyPair
	if keyPair == nil {
		keyPair = func(cert, key string) (tls.Certificate, error) { return pki.KeyPair(path(cert), path(key)) }
	}
	if c.CertFile != "" {
		crt, err := keyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{crt}
	}
	return tc, nil
}

func hashKeyFunc(spec string) func(*http.Request, netip.Addr) string {
	kind, name, _ := strings.Cut(spec, ":")
	switch kind {
	case "header":
		return func(r *http.Request, _ netip.Addr) string { return r.Header.Get(name) }
	case "cookie":
		return func(r *http.Request, _ netip.Addr) string {
			if c, err := r.Cookie(name); err == nil {
				return c.Value
			}
			return ""
		}
	}
	return func(_ *http.Request, ip netip.Addr) string { return ip.String() }
}

// Start runs active health checks, if configured, until Close.
func (p *Pool) Start(u *config.Upstream) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if a := u.HealthCheck.Active; a != nil {
		for _, t := range p.targets {
			p.wg.Add(1)
			go p.check(ctx, t, a)
		}
	}
}

// Close stops health checks and closes idle connections. Requests still
// in flight finish.
func (p *Pool) Close() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.transport.CloseIdleConnections()
}

// Health returns the state of every target.
func (p *Pool) Health(now time.Time) []observe.TargetHealth {
	out := make([]observe.TargetHealth, 0, len(p.targets))
	for _, t := range p.targets {
		out = append(out, observe.TargetHealth{Upstream: p.Name, Target: t.URL.Host, Healthy: t.Healthy(now),
			BreakerOpen: t.breaker != nil && t.breaker.State() == breaker.Open, InFlight: t.InFlight()})
	}
	return out
}
