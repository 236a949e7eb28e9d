package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/corazawaf/coraza/v3"

	"github.com/rampart-gw/rampart/internal/acme"
	"github.com/rampart-gw/rampart/internal/authn/dpop"
	"github.com/rampart-gw/rampart/internal/authz"
	"github.com/rampart-gw/rampart/internal/bots"
	"github.com/rampart-gw/rampart/internal/cache"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/dashboard"
	"github.com/rampart-gw/rampart/internal/hsm"
	"github.com/rampart-gw/rampart/internal/identity"
	"github.com/rampart-gw/rampart/internal/ipfilter"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/proxy"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/registry"
	"github.com/rampart-gw/rampart/internal/shed"
	"github.com/rampart-gw/rampart/internal/siem"
	"github.com/rampart-gw/rampart/internal/store"
	"github.com/rampart-gw/rampart/internal/threatintel"
	"github.com/rampart-gw/rampart/internal/tracing"
	"github.com/rampart-gw/rampart/internal/trail"
	"github.com/rampart-gw/rampart/internal/waf"
	"github.com/rampart-gw/rampart/internal/webui"
)

// Options are the Gateway's dependencies beyond its config.
type Options struct {
	Version string
	Log     *slog.Logger
	// ConfigPath is re-read on Reload; empty for a config built in code.
	ConfigPath string
	// Set holds the registries of the extension points; a nil registry
	// is the built-in one (registry.Builtin).
	registry.Set
}

// Gateway serves the current Snapshot on its listeners and swaps in a new
// one on Reload. It owns everything that outlives a snapshot: listeners,
// the pool set, the event bus, logs and metrics.
type Gateway struct {
	opts Options
	log  *slog.Logger
	// trailStore is the store the audit trail appends to (nil without
	// a trail); closed after the bus, whose trail sink writes last.
	trailStore store.Driver
	// acme manages the listener's certificates (server.tls.acme), kept
	// in acmeStore; nil without.
	acme      *acme.Manager
	acmeStore store.Driver
	// certCheck asks the certificate watch to look now (a certificate
	// obtained, a reload).
	certCheck chan struct{}
	// tracer exports the request path's spans; nil without tracing.
	tracer *tracing.Tracer
	// redactor is the one redaction of everything that leaves the gateway
	// but the response: access log, events, traces, admin output.
	redactor *observe.Redactor
	current  atomic.Pointer[Snapshot]
	// res are the resources snapshots share, each closed when the
	// last snapshot using it is released.
	res resources
	// wafGate admits as many WAF inspections at once as there are CPUs,
	// for every policy together (waf.Gate).
	wafGate waf.Gate
	// dpop checks DPoP proofs; its jti memory outlives reloads.
	dpop *dpop.Verifier
	// state is the traffic state that outlives reloads.
	state     trafficState
	stopSweep chan struct{}
	// stopSweepOnce closes stopSweep once.
	stopSweepOnce sync.Once
	signer        *identity.Signer
	// portalCSRF signs the portal's CSRF tokens; it outlives reloads.
	portalCSRF *webui.CSRF
	bus        *observe.Bus
	access     *observe.AccessLog
	metrics    *observe.Metrics
	// refused is metrics.Refusal, taken once: a method value made per
	// request is an allocation.
	refused func(route, stage, reason string)
	writers []*observe.LineWriter // closed by Shutdown
	// reopeners are the event sink files: closed by the bus, reopened on
	// SIGUSR1 like the access log.
	reopeners []*observe.LineWriter

	reloadMu sync.Mutex
	loadedFP [32]byte // files as the last load attempt read them; under reloadMu
	statusMu sync.Mutex
	status   ReloadStatus
	history  []ReloadStatus // the last reloadHistory load attempts, oldest first; under statusMu

	// recorder keeps what the security dashboard plots; nil when the
	// dashboard is off.
	recorder *dashboard.Recorder

	connCap  atomic.Int64
	tlsPort  atomic.Value // string: the first TLS listener's bound port
	draining atomic.Bool
	// hsm is the PKCS#11 module of keys in tokens; nil without.
	hsm *hsm.Module
	// baselines learns the routes' error rates and latencies.
	baselineMu sync.Mutex
	baselines  *routeBaselines
	// nodeID names this process among the nodes sharing a store, in
	// leases (a grant's expiry is reported by one node).
	nodeID  string
	servers []listenerServer
	addrs   []Addr
	serveWG sync.WaitGroup
}

// resources are what snapshots acquire and share: a resource is keyed by
// its name and a fingerprint of what it is built from (keyOf), carried
// into the next snapshot while that is unchanged, and closed when the
// last snapshot using it is released.
type resources struct {
	pools  *refSet[*proxy.Pool]
	stores *refSet[*store.Directory]
	// authnShared is what authenticators share across snapshots while
	// their settings are unchanged (authn.BuildEnv.Share): key sets, and
	// introspection clients with their token cache and breaker.
	authnShared *refSet[sharedResource]
	// externals (authorize.external) keep their decision cache and breaker.
	externals *refSet[*authz.External]
	// shedders are the upstreams' adaptive limits; they keep what they
	// learnt while the upstream's load_shedding is unchanged.
	shedders *refSet[*shed.Limiter]
	// wafs are compiled rule sets (about a second each), kept while a
	// policy's waf section is unchanged.
	wafs *refSet[coraza.WAF]
	// wafLogs are the waf.log_file writers, by path; SIGUSR1 reopens them.
	wafLogs *refSet[*observe.LineWriter]
	// geoDBs is the open country database, reopened when its file changes.
	geoDBs *refSet[*ipfilter.DB]
	// feeds are the threat-intelligence feeds, kept with their lists and
	// refresh loops while their definitions are unchanged.
	feeds *refSet[*threatintel.Feed]
}

// trafficState is the state of the traffic stages. It outlives reloads:
// a limit whose definition did not change keeps its budgets.
type trafficState struct {
	responses *cache.Store // the response cache, across reloads
	// limits holds rate-limit state; it outlives reloads, and a limit
	// whose definition did not change keeps its budgets.
	limits    ratelimit.Store        // *ratelimit.Memory or *ratelimit.Redis
	gates     *ratelimit.Gates       // concurrency caps; in-flight counts outlive reloads
	quotas    ratelimit.QuotaCounter // *ratelimit.MemoryQuotas or the Redis store
	abuse     ratelimit.Abuse        // graduated response: *ratelimit.MemoryAbuse or the Redis store
	once      ratelimit.Once         // spent bot-challenge solutions: *ratelimit.MemoryOnce or the Redis store
	evidence  ratelimit.Evidence     // attack correlation's counts: *ratelimit.MemoryEvidence or the Redis store
	goodBots  *bots.DNSCache         // reverse-DNS verifications of good bots
	limitSeed maphash.Seed
}

// Bans lists the keys the graduated response has banned.
func (g *Gateway) Bans(ctx context.Context) ([]ratelimit.Ban, error) {
	return g.state.abuse.Bans(ctx, time.Now().UnixNano())
}

// QuotaUsage reads consumer's usage of every quota keyed by consumer
// in the serving config, by policy name.
func (g *Gateway) QuotaUsage(ctx context.Context, consumer string) ([]ratelimit.QuotaUsage, error) {
	s := g.current.Load()
	out := []ratelimit.QuotaUsage{}
	for _, name := range slices.Sorted(maps.Keys(s.quotas)) {
		q := s.quotas[name]
		if !q.PerConsumer() {
			continue
		}
		u, err := q.Usage(ctx, name, consumer)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// LiftBan ends a ban; it reports whether the key was banned.
func (g *Gateway) LiftBan(ctx context.Context, id string) (bool, error) {
	return g.state.abuse.Lift(ctx, id, time.Now().UnixNano())
}

// PurgeCache removes cached responses: a route's ("" for every route's),
// of those the ones whose path starts with pathPrefix (is it, when
// exact) and that carry tag (each only when set). It returns how many it
// removed.
func (g *Gateway) PurgeCache(route, pathPrefix string, exact bool, tag string) int {
	sel := cache.Selector{PathPrefix: pathPrefix, ExactPath: exact, Tag: tag}
	if route != "" {
		sel.KeyPrefix = cache.KeyPrefix(route)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return g.state.responses.Purge(ctx, sel)
}

// JWKS serves the public keys of X-Rampart-Assertion.
func (g *Gateway) JWKS() http.Handler { return g.signer.JWKS() }

// Addr is one bound listener.
type Addr struct {
	Kind string // http, https, admin
	Addr net.Addr
}

// ReloadStatus is the outcome of the last config load attempt.
type ReloadStatus struct {
	Time     time.Time            `json:"time"`
	Source   string               `json:"source"` // startup, sighup, file, admin
	OK       bool                 `json:"ok"`
	Errors   []*config.FieldError `json:"errors,omitempty"`
	Message  string               `json:"message,omitempty"`
	LoadedAt time.Time            `json:"serving_since"` // when the serving config was applied
}

// New compiles cfg and prepares logs, metrics and the event bus. Start
// binds the listeners.
func New(cfg *config.Config, opts Options) (*Gateway, error) {
	g := &Gateway{opts: opts, log: opts.Log, res: resources{pools: newRefSet(func(p *proxy.Pool) { p.Close() }),
		stores:      newRefSet(func(d *store.Directory) { _ = d.Close() }),
		authnShared: newRefSet(func(r sharedResource) { r.close(r.v) }),
		externals:   newRefSet(func(*authz.External) {}),
		shedders:    newRefSet(func(*shed.Limiter) {}),
		geoDBs:      newRefSet(func(d *ipfilter.DB) { _ = d.Close() }),
		feeds:       newRefSet(func(f *threatintel.Feed) { f.Close() }),
		wafs:        newRefSet(closeWAF),
		wafLogs:     newRefSet(func(w *observe.LineWriter) { _ = w.Close() })},
		portalCSRF: webui.NewCSRF("rampart_portal_csrf", "/"),
		wafGate:    waf.NewGate(runtime.GOMAXPROCS(0))}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.nodeID = rand.Text()
	g.opts.Fill()
	if p := cfg.PKCS11; p != nil {
		g.hsm = &hsm.Module{Path: cfg.Path(p.Module), Pin: p.Pin.Value()}
	}
	signer, err := g.assertionSigner(cfg)
	if err != nil {
		g.closeHSM()
		return nil, err
	}
	g.signer = signer
	g.dpop = dpop.New(nil)
	g.state.limitSeed, g.stopSweep, g.certCheck = maphash.MakeSeed(), make(chan struct{}), make(chan struct{}, 1)
	ts, err := g.opts.StateDrivers.Open(ratelimit.StateOptions{State: &cfg.State, Log: g.log, Failures: func() { g.metrics.StateError() }})
	if err != nil {
		return nil, cfg.ErrorAt("state.driver", err)
	}
	g.state.limits, g.state.quotas, g.state.abuse, g.state.once, g.state.evidence = ts.Limits, ts.Quotas, ts.Abuse, ts.Once, ts.Evidence
	g.state.gates, g.state.goodBots = ratelimit.NewGates(), bots.NewDNSCache()
	cacheBytes := int64(cfg.Server.Cache.MaxBytes)
	if cacheBytes == 0 {
		cacheBytes = config.DefaultCacheMaxBytes
	}
	g.state.responses = cache.NewStore(cacheBytes)
	g.metrics = observe.NewMetrics(opts.Version, g.health)
	g.refused = g.metrics.Refusal
	g.redactor = observe.NewRedactor(nil)
	if !cfg.AccessLog.Disabled {
		w, err := observe.OpenLines(logPath(cfg, cfg.AccessLog.Path), 100*time.Millisecond)
		if err != nil {
			return nil, err
		}
		g.writers = append(g.writers, w)
		g.access = observe.NewAccessLog(w, cfg.AccessLog.Headers, g.redactor)
	}
	if t := cfg.Tracing; t != nil {
		tr, err := tracing.New(context.Background(), tracing.Options{Exporter: t.Exporter, Endpoint: t.Endpoint, Insecure: t.Insecure,
			SampleRatio: t.SampleRatio, ServiceName: t.ServiceName, Version: opts.Version, Redact: g.redactor.Text})
		if err != nil {
			g.closeWriters()
			return nil, fmt.Errorf("tracing: %w", err)
		}
		g.tracer = tr
	}
	sinks, err := g.eventSinks(cfg)
	if err != nil {
		g.closeTrail()
		g.closeWriters()
		return nil, err
	}
	if !cfg.Admin.Disabled && !cfg.Admin.Dashboard.Disabled {
		g.recorder = dashboard.NewRecorder(g.metrics.Gatherer())
		sinks = append(sinks, g.recorder) // the bus closes it
	}
	warn := newSinkWarnings(g.log, 10*time.Second)
	g.bus = observe.NewBus(sinks, g.metrics.EventDropped, warn.failed)
	g.bus.Redact(g.redactor)
	if t := cfg.Server.TLS; t != nil && t.ACME != nil {
		if err := g.startACME(cfg); err != nil {
			_ = g.bus.Close()
			g.closeTrail()
			g.closeWriters()
			return nil, cfg.ErrorAt("server.tls.acme", err)
		}
	}
	snap, err := g.build(cfg)
	if err != nil {
		g.stopACME()
		_ = g.bus.Close()
		g.closeTrail()
		g.closeWriters()
		return nil, err
	}
	g.current.Store(snap)
	g.redactor.SetCredentials(g.credentialCarriers(cfg))
	g.connCap.Store(int64(cfg.Server.Limits.MaxConnectionsPerIP))
	g.setStatus("startup", nil, snap.loadedAt)
	if opts.ConfigPath != "" {
		g.loadedFP = fingerprint(g.watchedFiles())
	}
	go g.sweepLimits()
	go g.watchGrants()
	go g.revokeUnusedKeys()
	go g.watchCertificates(time.Hour)
	if ts.Responses != nil && cfg.Server.Cache.Store != "memory" {
		g.state.responses.Share(ts.Responses) // Shutdown stops following its purges
	}
	return g, nil
}

// closeWAF releases what Coraza keeps for a rule set beyond the WAF
// value itself (its share of the process-wide cache of compiled
// patterns), once no snapshot uses the rule set.
func closeWAF(w coraza.WAF) {
	if c, ok := w.(io.Closer); ok {
		_ = c.Close()
	}
}

func (g *Gateway) closeWriters() {
	for _, w := range g.writers {
		_ = w.Close()
	}
}

// ReopenLogs reopens the access log and event files, for log rotation.
func (g *Gateway) ReopenLogs() error {
	var errs []error
	for _, w := range append(append(g.writers, g.reopeners...), g.res.wafLogs.all()...) {
		errs = append(errs, w.Reopen())
	}
	return errors.Join(errs...)
}

// Metrics returns the gateway's metrics.
func (g *Gateway) Metrics() *observe.Metrics { return g.metrics }

// Config returns the serving config.
func (g *Gateway) Config() *config.Config { return g.current.Load().cfg }

// Status returns the last reload attempt's outcome.
func (g *Gateway) Status() ReloadStatus {
	g.statusMu.Lock()
	defer g.statusMu.Unlock()
	return g.status
}

// BeginDrain marks the gateway as draining: /readyz answers 503 and
// HTTP/1.1 responses close their connection, while requests are still
// served. Shutdown follows.
func (g *Gateway) BeginDrain() { g.draining.Store(true) }

// Ready reports whether the gateway takes traffic (false while draining).
func (g *Gateway) Ready() bool { return !g.draining.Load() && g.current.Load() != nil }

// Addrs returns the bound listeners, after Start.
func (g *Gateway) Addrs() []Addr { return g.addrs }

func (g *Gateway) health() []observe.TargetHealth {
	now := time.Now()
	var out []observe.TargetHealth
	for _, p := range g.res.pools.all() {
		out = append(out, p.Health(now)...)
	}
	return out
}

// ServeHTTP serves one request on the current snapshot (an ACME http-01
// challenge before it).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.acme != nil && g.acmeChallenge(w, r) {
		return
	}
	g.current.Load().ServeHTTP(w, r)
}

// Start binds every listener of the config and serves until Shutdown.
// extra handlers (the admin API) are served on their own listeners.
func (g *Gateway) Start(admin map[string]http.Handler) error {
	cfg := g.Config()
	// bind listens on addr, the value of the setting at path.
	bind := func(kind, path, addr string, h http.Handler, tlsOn bool) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return cfg.ErrorAt(path, listenError(path, addr, err))
		}
		g.addrs = append(g.addrs, Addr{Kind: kind, Addr: l.Addr()})
		if tlsOn && g.tlsPort.Load() == nil {
			_, port, _ := net.SplitHostPort(l.Addr().String())
			g.tlsPort.Store(port)
		}
		srv := g.newServer(cfg, h, tlsOn)
		// the gateway's own HTTP/1.1 server reads the heads itself: no
		// wire check in front of it
		own := kind != "admin" && cfg.Server.HTTP1Engine == "rampart"
		if kind != "admin" {
			cl := newCapListener(l, &g.connCap, tlsOn, g.refusedConn)
			cl.onOpen, cl.onClose = g.metrics.ConnOpened, g.metrics.ConnClosed
			l = cl
			switch {
			case tlsOn:
				srv.TLSConfig = g.listenerTLS()
				l = newTLSListener(l, srv.TLSConfig, g.handshakeTimeout, g.wireMaxHeader, own)
			case !own:
				l = wireListener{Listener: l, maxHeader: g.wireMaxHeader}
			}
		}
		if own {
			e := g.newEngine(srv, h, l)
			g.servers = append(g.servers, e)
			g.serveWG.Add(1)
			go func() {
				defer g.serveWG.Done()
				e.serve()
			}()
			g.log.Info("listening", "kind", kind, "addr", l.Addr().String(), "http1_engine", "rampart")
			return nil
		}
		g.servers = append(g.servers, srv)
		g.serveWG.Add(1)
		go func() {
			defer g.serveWG.Done()
			// TLS listeners complete the handshake themselves
			// (tlsListener), so every listener is served as is.
			err := srv.Serve(l)
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("listener stopped", "addr", addr, "error", err)
			}
		}()
		g.log.Info("listening", "kind", kind, "addr", l.Addr().String())
		return nil
	}
	for i, a := range cfg.Server.Listen {
		if err := bind("http", fmt.Sprintf("server.listen[%d]", i), a, g, false); err != nil {
			g.closeServers()
			return err
		}
	}
	if t := cfg.Server.TLS; t != nil {
		for i, a := range t.Listen {
			if err := bind("https", fmt.Sprintf("server.tls.listen[%d]", i), a, g, true); err != nil {
				g.closeServers()
				return err
			}
		}
	}
	if a := portalListen(cfg); a != "" {
		if err := bind("portal", "portal.listen", a, g, false); err != nil {
			g.closeServers()
			return err
		}
	}
	for addr, h := range admin {
		if err := bind("admin", "admin.listen", addr, h, false); err != nil {
			g.closeServers()
			return err
		}
	}
	if g.acme != nil {
		// the listeners answer the challenges: obtaining starts now, in
		// the background
		if err := g.acme.Start(); err != nil {
			g.closeServers()
			return cfg.ErrorAt("server.tls.acme", err)
		}
	}
	return nil
}

// listenError says which setting's address cannot be bound and what to do.
func listenError(path, addr string, err error) error {
	cause := err
	if u := errors.Unwrap(err); u != nil {
		cause = u // the system call's error, without net's restating of the address
	}
	msg := fmt.Sprintf("cannot listen on %s: %v", addr, cause) // the error's position names the setting
	if errors.Is(err, syscall.EADDRINUSE) {
		msg += "; another process holds this address: stop it, or set " + path + " to another address"
		if path == "admin.listen" {
			msg += " (its default is " + config.DefaultAdminListen + "), or turn the admin API off with admin: {disabled: true}"
		}
	}
	return errors.New(msg)
}

func (g *Gateway) newServer(cfg *config.Config, h http.Handler, tlsOn bool) *http.Server {
	l := cfg.Server.Limits
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout.D(),
		IdleTimeout:       l.IdleTimeout.D(),
		// The stdlib answers a plain-text 431 past this; the sanitiser
		// answers a problem+json 431 past the configured limit below it.
		MaxHeaderBytes: 2 * int(l.MaxHeaderBytes),
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			ci := &connInfo{}
			switch c := c.(type) {
			case *tls.Conn: // HTTP/2
				ci.conn, _ = c.NetConn().(*cappedConn)
			case *tlsWireConn:
				ci.wire = c.wireConn
				if tc, ok := c.Conn.(*tls.Conn); ok {
					ci.conn, _ = tc.NetConn().(*cappedConn)
				}
			case *wireConn:
				ci.wire = c
			}
			return context.WithValue(ctx, connInfoKey{}, ci)
		},
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 250},
	}
	var p http.Protocols
	p.SetHTTP1(true)
	if tlsOn {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	srv.Protocols = &p
	return srv
}

// handshakeTimeout bounds a TLS handshake as the header timeout bounds
// the request head.
func (g *Gateway) handshakeTimeout() time.Duration {
	if d := g.Config().Server.Limits.ReadHeaderTimeout.D(); d > 0 {
		return d
	}
	return 10 * time.Second
}

// wireMaxHeader is the header block size past which guard.Wire refuses a
// request head: net/http's own limit (MaxHeaderBytes, twice the configured
// one), so that the sanitiser's 431 with the exact size answers the rest.
func (g *Gateway) wireMaxHeader() int {
	return 2 * int(g.Config().Server.Limits.MaxHeaderBytes)
}

func (g *Gateway) refusedConn(ip netip.Addr) {
	g.metrics.ConnectionRefused()
	g.metrics.Refusal("", "connection", "connection_cap")
	g.bus.Publish(connRefusedEvent(ip))
}

func (g *Gateway) closeServers() {
	for _, s := range g.servers {
		_ = s.Close()
	}
	g.serveWG.Wait()
}

// Shutdown stops accepting, waits for in-flight requests until ctx ends,
// then closes what is left, the pools, the bus and the logs.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.draining.Store(true)
	var wg sync.WaitGroup
	errs := make([]error, len(g.servers))
	for i, s := range g.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(ctx); err != nil {
				errs[i] = err
				_ = s.Close()
			}
		}()
	}
	wg.Wait()
	g.serveWG.Wait()
	if s := g.current.Load(); s != nil {
		s.release()
	}
	g.stopSweepOnce.Do(func() { close(g.stopSweep) })
	g.stopBaselines()
	defer g.closeHSM() // after the listeners, whose TLS keys it holds
	g.stopACME()
	g.state.responses.Close()
	if c, ok := g.state.limits.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	_ = g.bus.Close()
	g.closeTrail()
	if g.tracer != nil {
		_ = g.tracer.Shutdown(ctx)
	}
	g.closeWriters()
	return errors.Join(errs...)
}

// sweepLimits returns the memory of idle rate-limit keys every 10s.
func (g *Gateway) sweepLimits() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-g.stopSweep:
			return
		case now := <-t.C:
			for _, st := range []any{g.state.limits, g.state.quotas, g.state.abuse, g.state.once, g.state.evidence} {
				if sw, ok := st.(interface{ Sweep(int64) }); ok {
					sw.Sweep(now.UnixNano())
				}
			}
		}
	}
}

// tlsACME is the managed certificates' settings, "" without.
func tlsACME(c *config.Config) string {
	if c.Server.TLS == nil || c.Server.TLS.ACME == nil {
		return ""
	}
	b, _ := json.Marshal(c.Server.TLS.ACME)
	return string(b)
}

// ImmutableError reports a change to a setting that only a restart
// applies; the reload is refused and the old config keeps serving.
type ImmutableError struct{ Setting string }

func (e *ImmutableError) Error() string {
	return fmt.Sprintf("%s cannot change on reload; restart the gateway to apply it", e.Setting)
}

func restartOnly(old, cur *config.Config) error {
	checks := []struct {
		name string
		a, b any
	}{
		{"server.listen", old.Server.Listen, cur.Server.Listen},
		{"server.tls.listen", tlsListen(old), tlsListen(cur)},
		{"server.limits.read_header_timeout", old.Server.Limits.ReadHeaderTimeout, cur.Server.Limits.ReadHeaderTimeout},
		{"server.limits.idle_timeout", old.Server.Limits.IdleTimeout, cur.Server.Limits.IdleTimeout},
		{"admin", old.Admin.Listen, cur.Admin.Listen},
		{"admin.disabled", old.Admin.Disabled, cur.Admin.Disabled},
		{"admin.dashboard", old.Admin.Dashboard, cur.Admin.Dashboard},
		{"pkcs11", old.PKCS11, cur.PKCS11},
		{"server.http1_engine", old.Server.HTTP1Engine, cur.Server.HTTP1Engine},
		{"identity.signing_key", old.Identity.SigningKey, cur.Identity.SigningKey},
		{"portal.listen", portalListen(old), portalListen(cur)},
		{"access_log", old.AccessLog, cur.AccessLog},
		{"state", stateOf(old), stateOf(cur)},
		{"server.tls.acme", tlsACME(old), tlsACME(cur)},
		{"server.cache", old.Server.Cache, cur.Server.Cache},
		{"events", old.Events, cur.Events},
		{"identity.key_rotation", old.Identity.KeyRotation, cur.Identity.KeyRotation},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.a, c.b) {
			return &ImmutableError{Setting: c.name}
		}
	}
	if cur.Server.Limits.MaxHeaderBytes > old.Server.Limits.MaxHeaderBytes {
		return &ImmutableError{Setting: "server.limits.max_header_bytes (raising it)"}
	}
	return nil
}

func portalListen(c *config.Config) string {
	if c.Portal == nil {
		return ""
	}
	return c.Portal.Listen
}

func tlsListen(c *config.Config) []string {
	if c.Server.TLS == nil {
		return nil
	}
	return c.Server.TLS.Listen
}

// Reload reads the config file again and, if it is valid and compiles,
// swaps it in atomically. On any error the old snapshot keeps serving.
func (g *Gateway) Reload(source string) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	if g.opts.ConfigPath == "" {
		return errors.New("this gateway was not started from a config file")
	}
	old := g.current.Load()
	// The files as they are before this attempt reads them: a change
	// made while it runs differs from this and reloads again. (Were it
	// taken after, a file written during the build would be missed.) A
	// new config naming other files makes the next check differ too,
	// which costs one more reload, never a missed one.
	g.loadedFP = fingerprint(g.watchedFiles())
	cfg, err := config.LoadWith(g.opts.ConfigPath, LoadOptions(false, &g.opts))
	if err == nil {
		err = restartOnly(old.cfg, cfg)
	}
	var snap *Snapshot
	if err == nil {
		snap, err = g.build(cfg)
	}
	if err != nil {
		g.setStatus(source, err, old.loadedAt)
		g.metrics.Reload(false, 0)
		g.bus.Publish(observe.Event{Type: "config.reload_failed", Reason: source, Detail: firstLine(err)})
		g.log.Error("config reload refused; the previous config keeps serving", "source", source, "error", err.Error())
		return err
	}
	g.current.Store(snap)
	g.checkCertificates() // a file may hold a new certificate
	g.redactor.SetCredentials(g.credentialCarriers(cfg))
	g.connCap.Store(int64(cfg.Server.Limits.MaxConnectionsPerIP))
	old.release()
	g.setStatus(source, nil, snap.loadedAt)
	g.metrics.Reload(true, float64(snap.loadedAt.Unix()))
	g.bus.Publish(observe.Event{Type: "config.reloaded", Reason: source, Detail: fmt.Sprintf("%d routes, %d upstreams", len(cfg.Routes), len(cfg.Upstreams))})
	g.log.Info("config reloaded", "source", source, "routes", len(cfg.Routes))
	return nil
}

func (g *Gateway) setStatus(source string, err error, loadedAt time.Time) {
	st := ReloadStatus{Time: time.Now(), Source: source, OK: err == nil, LoadedAt: loadedAt}
	var fe config.Errors
	if errors.As(err, &fe) {
		st.Errors = fe
	} else if err != nil {
		st.Message = err.Error()
	}
	g.statusMu.Lock()
	g.status = st
	if len(g.history) == reloadHistory {
		g.history = append(g.history[:0], g.history[1:]...)
	}
	g.history = append(g.history, st)
	g.statusMu.Unlock()
}

// credentialCarriers are the query parameters and headers authenticators
// read keys from (api_key's, as their Credential says): the access log
// redacts them by name, whatever the operator called them.
func (g *Gateway) credentialCarriers(cfg *config.Config) (params, headers []string) {
	for _, a := range cfg.Authenticators {
		if a == nil {
			continue
		}
		kind, ok := g.opts.Authenticators.Lookup(a.Type)
		if !ok || kind.Credential == nil {
			continue
		}
		switch in, name := kind.Credential(a); in {
		case "query":
			params = append(params, name)
		case "header":
			headers = append(headers, name)
		}
	}
	return params, headers
}

// reloadHistory is how many config load attempts the dashboard shows.
const reloadHistory = 20

// Reloads returns the last config load attempts, newest first.
func (g *Gateway) Reloads() []ReloadStatus {
	g.statusMu.Lock()
	defer g.statusMu.Unlock()
	out := make([]ReloadStatus, len(g.history))
	for i, st := range g.history {
		out[len(g.history)-1-i] = st
	}
	return out
}

// Recorder is what the security dashboard reads; nil when it is off.
func (g *Gateway) Recorder() *dashboard.Recorder { return g.recorder }

// Health is the state of every upstream target.
func (g *Gateway) Health() []observe.TargetHealth { return g.health() }

func firstLine(err error) string {
	s := err.Error()
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i] + " (and more)"
		}
	}
	return s
}

// stateOf is what of the state section a reload cannot change: its
// settings and the values of its secrets.
func stateOf(c *config.Config) string {
	b, _ := json.Marshal(c.State)
	return string(b) + hex.EncodeToString(secretValues(c, "state."))
}

// secretValues is a digest of the values of the secrets under prefix
// (the config holds only their references): a resource keyed by it is
// made anew when a secret file or variable changes.
func secretValues(c *config.Config, prefix string) []byte {
	h := sha256.New()
	for _, s := range c.Secrets() {
		if strings.HasPrefix(s.Path, prefix) {
			h.Write([]byte(s.Path + "\x00" + s.Secret.Value() + "\x00"))
		}
	}
	return h.Sum(nil)
}

// Redactor is the gateway's redaction of what leaves it (admin output).
func (g *Gateway) Redactor() *observe.Redactor { return g.redactor }

// Publish puts an event on the gateway's bus (the admin API's actions).
func (g *Gateway) Publish(e observe.Event) { g.bus.Publish(e) }

func (g *Gateway) closeTrail() {
	if g.trailStore != nil {
		_ = g.trailStore.Close()
		g.trailStore = nil
	}
}

// eventSinks opens the configured security event sinks, and the audit
// trail's.
func (g *Gateway) eventSinks(cfg *config.Config) ([]observe.Sink, error) {
	var sinks []observe.Sink
	fail := func(err error) ([]observe.Sink, error) {
		for _, o := range sinks {
			_ = o.Close()
		}
		return nil, err
	}
	if t := cfg.Trail; t != nil {
		key, err := trail.SigningKey(cfg, g.tokenSigner)
		if err != nil {
			setting := "trail.signing_key"
			if t.TokenKey != "" {
				setting = "trail.token_key"
			}
			return nil, cfg.ErrorAt(setting, err)
		}
		d, err := g.opts.Stores.Open(context.Background(), cfg)
		if err != nil {
			return nil, fmt.Errorf("trail: %w", err)
		}
		g.trailStore = d
		w := trail.NewWriter(d, trail.Options{Key: key, Actor: "gateway", CheckpointEvery: t.CheckpointEvery, CheckpointInterval: t.CheckpointInterval.D(),
			Checkpointed: func(seq uint64, hash string) {
				// the anchor a SIEM keeps: it shows a truncated trail
				g.bus.Publish(observe.Event{Type: "trail.checkpoint", Rule: fmt.Sprintf("%d:%s", seq, hash),
					Detail: fmt.Sprintf("The audit trail was signed up to entry %d; `rampart trail verify --anchor %d:%s` checks it was not cut short.", seq, seq, hash)})
			}})
		sinks = append(sinks, trail.NewSink(w, cfg.TrailSeverity(), siem.Severity, func(n int) { g.metrics.EventsDropped("trail", n) }))
	}
	env := &siem.SinkEnv{Config: cfg, Dropped: g.metrics.EventsDropped,
		OpenFile: func(p string, maxBytes int64, keep int) (*observe.LineWriter, error) {
			var w *observe.LineWriter
			var err error
			if maxBytes > 0 {
				w, err = observe.OpenRotating(logPath(cfg, p), maxBytes, keep, 100*time.Millisecond)
			} else {
				w, err = observe.OpenLines(logPath(cfg, p), 100*time.Millisecond)
			}
			if err == nil {
				g.reopeners = append(g.reopeners, w)
			}
			return w, err
		}}
	for i := range cfg.Events.Sinks {
		sink, err := g.opts.Sinks.Open(env, i, &cfg.Events.Sinks[i])
		if err != nil {
			return fail(err)
		}
		sinks = append(sinks, sink)
	}
	return sinks, nil
}

// logPath resolves a log or event file against the config's directory;
// stdout and stderr are streams.
func logPath(cfg *config.Config, p string) string {
	if p == "stdout" || p == "stderr" {
		return p
	}
	return cfg.Path(p)
}

// sinkWarnings logs a sink's failures at most once an interval, with how
// many it left out: a dead receiver must not flood the gateway's log (the
// events lost are counted in rampart_events_dropped_total).
type sinkWarnings struct {
	log      *slog.Logger
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	skipped  map[string]int
}

func newSinkWarnings(log *slog.Logger, interval time.Duration) *sinkWarnings {
	return &sinkWarnings{log: log, interval: interval, last: map[string]time.Time{}, skipped: map[string]int{}}
}

func (w *sinkWarnings) failed(sink string, err error) {
	w.mu.Lock()
	now := time.Now()
	if now.Sub(w.last[sink]) < w.interval {
		w.skipped[sink]++
		w.mu.Unlock()
		return
	}
	skipped := w.skipped[sink]
	w.last[sink], w.skipped[sink] = now, 0
	w.mu.Unlock()
	w.log.Warn("security event sink failed", "sink", sink, "error", err, "failures_not_logged", skipped)
}
