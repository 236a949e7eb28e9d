package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corazawaf/coraza/v3"
	"go.opentelemetry.io/otel/trace"

	"github.com/rampart-gw/rampart/internal/baseline"
	"github.com/rampart-gw/rampart/internal/bots"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/http1"
	"github.com/rampart-gw/rampart/internal/ipfilter"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/pki"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/proxy"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/route"
	"github.com/rampart-gw/rampart/internal/schema"
	"github.com/rampart-gw/rampart/internal/shed"
	"github.com/rampart-gw/rampart/internal/store"
	"github.com/rampart-gw/rampart/internal/threatintel"
	"github.com/rampart-gw/rampart/internal/tracing"
	"github.com/rampart-gw/rampart/internal/waf"
	"github.com/rampart-gw/rampart/internal/webui"
)

// Snapshot is one immutable compiled config: the route table, each
// route's handler chain, and the pools they use. Requests load the current
// snapshot once and finish on it even if a reload swaps it meanwhile.
type Snapshot struct {
	cfg            *config.Config
	loadedAt       time.Time
	table          *route.Table
	routes         []*compiledRoute
	rules          []route.Rule // routes[i]'s match rule
	releases       []func()     // give back the shared resources acquired
	trusted        guard.Trusted
	maxHeaderBytes int
	bodyTimeout    time.Duration
	httpsPort      string // non-empty: cleartext requests are redirected to this TLS port
	hsts           string // Strict-Transport-Security, sent on TLS responses only (RFC 6797 §7.2)
	headers        *guard.HeaderRules
	problemBase    string      // prefix of problem type URIs; "" for problem.DefaultBase
	tls            *tls.Config // nil without TLS listeners
	unmatched      *observe.RouteMetrics
	quotas         map[string]*ratelimit.QuotaStage // by policy
	feeds          map[string]*threatintel.Feed     // threat-intelligence feeds, by name
	directory      *store.Directory                 // the store's consumers, keys and grants; nil without a store
	// portal serves the developer portal under portalPath; nil without.
	portal        http.Handler
	portalPath    string
	portalMetrics *observe.RouteMetrics
	g             *Gateway
}

type compiledRoute struct {
	name     string
	baseline *baseline.Route // nil without baselines
	stages   []string        // its stages' names, in request-path order
	handler  http.Handler
	metrics  *observe.RouteMetrics
	cors     bool // its policy answers CORS preflights
	// encodedSlashes: the route accepts %2F and %5C in paths.
	encodedSlashes bool
	// allowGetBody: the route accepts a body on GET and HEAD.
	allowGetBody bool
	// stripParams: the route takes paths with ';' parameters, stripped.
	stripParams bool
}

// build compiles cfg. On error every resource it acquired is released
// and the snapshot is discarded (the result is nil, never half-built).
func (g *Gateway) build(cfg *config.Config) (_ *Snapshot, err error) {
	s := &Snapshot{cfg: cfg, loadedAt: time.Now(), g: g, maxHeaderBytes: int(cfg.Server.Limits.MaxHeaderBytes),
		bodyTimeout: cfg.Server.Limits.BodyTimeout.D(), problemBase: cfg.ProblemTypeBase()}
	defer func() {
		if err != nil {
			s.release() // s, not the named result: that is nil on error
		}
	}()
	rules, rerrs := route.Rules(cfg)
	if len(rerrs) > 0 {
		return nil, rerrs
	}
	docs, derrs := schema.Documents(cfg)
	if len(derrs) > 0 {
		return nil, derrs
	}
	s.rules = rules
	under, _ := guard.ParseUnderscores(cfg.Server.Headers.Underscores)
	_, keyHeaders := g.credentialCarriers(cfg)
	s.headers = guard.NewHeaderRules(under, keyHeaders...)
	for _, p := range cfg.Server.TrustedProxies {
		pfx, perr := config.ParsePrefix(p)
		if perr != nil {
			return nil, perr
		}
		s.trusted = append(s.trusted, pfx)
	}
	if t := cfg.Server.TLS; t != nil {
		if s.tls, err = g.serverTLS(cfg); err != nil {
			return nil, err
		}
		if cfg.Server.HTTPSRedirect {
			_, s.httpsPort, _ = net.SplitHostPort(t.Listen[0])
		}
		if !t.HSTS.Disabled {
			s.hsts = "max-age=" + strconv.FormatInt(int64(t.HSTS.MaxAge.D().Seconds()), 10)
			if t.HSTS.IncludeSubdomains {
				s.hsts += "; includeSubDomains"
			}
			if t.HSTS.Preload {
				s.hsts += "; preload"
			}
		}
	}
	pools := map[string]*proxy.Pool{}
	for name, u := range cfg.Upstreams {
		// Keyed by the TLS files' contents too: a rotated CA bundle or
		// client certificate builds a new pool on reload.
		k := keyOf(name, struct {
			U   *config.Upstream
			TLS [32]byte
		}{u, upstreamTLSFiles(cfg, u)}, cfg.BaseDir)
		p, perr := g.res.pools.acquire(k, func() (*proxy.Pool, error) {
			p, err := proxy.NewPool(name, u, proxy.Options{Path: cfg.Path, Log: g.log, Metrics: g.metrics,
				KeyPair: func(cert, key string) (tls.Certificate, error) { return g.keyPair(cfg.Path(cert), keyPath(cfg, key)) }})
			if err == nil {
				p.Start(u)
			}
			return p, err
		})
		if perr != nil {
			return nil, cfg.ErrorAt("upstreams."+name, perr)
		}
		s.releases = append(s.releases, func() { g.res.pools.release(k) })
		pools[name] = p
	}
	var geo, asn *ipfilter.DB
	if gi := cfg.GeoIP; gi != nil {
		if geo, err = g.acquireMMDB(cfg, s, "geoip.database", gi.Database); err != nil {
			return nil, err
		}
		if asn, err = g.acquireMMDB(cfg, s, "geoip.asn_database", gi.ASNDatabase); err != nil {
			return nil, err
		}
	}
	if s.feeds, err = g.acquireFeeds(cfg, s); err != nil {
		return nil, err
	}
	wafs := map[string]*waf.Stage{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		p := cfg.Policies[name]
		if p == nil || p.WAF == nil {
			continue
		}
		o := wafOptions(p, int64(cfg.Server.Limits.MaxBodyBytes))
		logPath := ""
		if lf := p.WAF.LogFile; lf != "" {
			logPath = lf
			if lf != "stderr" && lf != "stdout" {
				logPath = cfg.Path(lf)
			}
			lk := keyOf("waf-log", logPath, "")
			lw, lerr := g.res.wafLogs.acquire(lk, func() (*observe.LineWriter, error) { return observe.OpenLines(logPath, wafLogFlush) })
			if lerr != nil {
				return nil, cfg.ErrorAt("policies."+name+".waf.log_file", lerr)
			}
			s.releases = append(s.releases, func() { g.res.wafLogs.release(lk) })
			o.Log = lw.Synchronous()
		}
		k := keyOf("waf", waf.Directives(o), "")
		rs, werr := g.res.wafs.acquire(k, func() (coraza.WAF, error) { return waf.New(o) })
		if werr != nil {
			return nil, cfg.ErrorAt("policies."+name+".waf", werr)
		}
		s.releases = append(s.releases, func() { g.res.wafs.release(k) })
		wafs[name] = &waf.Stage{WAF: rs, Detect: o.Detect, Policy: name, Count: g.metrics.WAF(name), CountGroup: g.metrics.WAFGroups(name), Gate: g.wafGate,
			LogPhase: o.LogPhase(), Log: o.Log,
			Responses: o.Responses, ResponseBodyLimit: int(o.ResponseBodyLimit)}
	}
	shedders := map[string]*shed.Limiter{}
	for name, u := range cfg.Upstreams {
		ls := u.LoadShedding
		if ls == nil {
			continue
		}
		k := keyOf(name, ls, "")
		l, _ := g.res.shedders.acquire(k, func() (*shed.Limiter, error) {
			return shed.New(shed.Options{Min: ls.MinLimit, Max: ls.MaxLimit, Initial: ls.InitialLimit, Tolerance: ls.Tolerance,
				Window: ls.Window.D(), OnAdjust: g.metrics.ShedLimit(name)}), nil
		})
		s.releases = append(s.releases, func() { g.res.shedders.release(k) })
		shedders[name] = l
	}
	auth, err := g.compileIdentity(cfg, s)
	if err != nil {
		return nil, err
	}
	access, err := g.compileAccess(cfg, s)
	if err != nil {
		return nil, err
	}
	deps := &stageDeps{tokenAEAD: g.tokenAEAD, transforms: g.opts.ResponseTransforms, documents: docs, store: g.state.limits, gates: g.state.gates, seed: g.state.limitSeed, quotas: g.state.quotas, abuse: g.state.abuse, responses: g.state.responses,
		shedders: shedders, bots: bots.Options{Once: g.state.once, DNS: g.state.goodBots}, metrics: g.metrics,
		quotaStages: map[string]*ratelimit.QuotaStage{}, geo: geo, asn: asn, wafs: wafs, feeds: s.feeds,
		evidence: g.state.evidence, sharedState: g.state.abuse.Shared()}
	b := route.NewBuilder()
	for i, r := range cfg.Routes {
		if c := b.Add(rules[i]); len(c) > 0 {
			return nil, fmt.Errorf("route %s: %w", r.Name, c[0])
		}
		stages, serr := routeStages(cfg, r, auth, access, deps)
		if serr != nil {
			return nil, serr
		}
		fwd := &proxy.Forwarder{Pool: pools[r.Upstream], Rewrite: compileRewrite(r.Rewrite)}
		if r.Rewrite != nil {
			fwd.Host = r.Rewrite.Host
		}
		names := make([]string, len(stages))
		for i, st := range stages {
			names[i] = st.Name()
		}
		var final http.Handler = fwd
		if g.tracer != nil {
			stages = traced(g.tracer, stages)
			final = g.tracer.Upstream(r.Upstream, fwd)
		}
		pol := cfg.Policies[r.Policy]
		s.routes = append(s.routes, &compiledRoute{name: r.Name, stages: names, handler: Chain(final, stages...), metrics: g.metrics.Route(r.Name), encodedSlashes: r.AllowEncodedSlashes,
			cors: pol != nil && pol.CORS != nil, allowGetBody: r.AllowGetBody, stripParams: r.PathParameters == "strip"})
	}
	if set := g.baselinesFor(cfg); set != nil {
		for _, cr := range s.routes {
			cr.baseline = set.Route(cr.name)
		}
	}
	s.quotas = deps.quotaStages
	if err := g.buildPortal(cfg, s, auth, deps); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	s.table = b.Build()
	s.unmatched = g.metrics.Route("")
	return s, nil
}

// acquireMMDB opens a MaxMind-format database for the snapshot, shared
// with the serving one while the file is the same edition; nil for no
// file.
func (g *Gateway) acquireMMDB(cfg *config.Config, s *Snapshot, setting, file string) (*ipfilter.DB, error) {
	if file == "" {
		return nil, nil
	}
	path := cfg.Path(file)
	var stamp string
	if fi, err := os.Stat(path); err == nil {
		stamp = fi.ModTime().String() + "/" + strconv.FormatInt(fi.Size(), 10)
	}
	k := keyOf("geoip", path+"@"+stamp, "")
	db, err := g.res.geoDBs.acquire(k, func() (*ipfilter.DB, error) { return ipfilter.Open(path) })
	if err != nil {
		return nil, cfg.ErrorAt(setting, err)
	}
	s.releases = append(s.releases, func() { g.res.geoDBs.release(k) })
	return db, nil
}

// upstreamTLSFiles fingerprints the files of an upstream's TLS settings.
func upstreamTLSFiles(cfg *config.Config, u *config.Upstream) [32]byte {
	if u.TLS == nil {
		return [32]byte{}
	}
	var files []string
	for _, f := range []string{u.TLS.CAFile, u.TLS.CertFile, u.TLS.KeyFile} {
		if f != "" {
			files = append(files, cfg.Path(f))
		}
	}
	return pki.Fingerprint(files...)
}

// wafOptions are a policy's WAF settings; the body inspected is the
// policy's body limit.
func wafOptions(p *config.Policy, serverLimit int64) waf.Options {
	w := p.WAF
	o := waf.Options{Paranoia: w.Paranoia, Detect: w.Mode == "detect", Threshold: w.InboundThreshold, BodyLimit: serverLimit,
		RulesBefore: w.RulesBefore, Rules: w.Rules,
		Responses: w.InspectResponses, ResponseBodyLimit: int64(w.ResponseBodyLimit)}
	if p.Validate != nil && p.Validate.MaxBodyBytes > 0 {
		o.BodyLimit = min(o.BodyLimit, int64(p.Validate.MaxBodyBytes))
	}
	for _, e := range w.Exclusions {
		if e != nil {
			o.Exclusions = append(o.Exclusions, waf.Exclusion{Rule: e.Rule, Target: e.Target})
		}
	}
	return o
}

// release gives back the snapshot's shared resources.
func (s *Snapshot) release() {
	for _, rel := range s.releases {
		rel()
	}
}

// ServeHTTP runs stages 1-3 (request id and trace context, sanitising,
// route match) and then the matched route's chain.
func (s *Snapshot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := s.g
	st := &reqctx.State{Events: g.bus, Refused: g.refused, ProblemBase: s.problemBase}
	rec := &st.AccessRecord
	rec.Start = time.Now()
	rec.Method, rec.Host, rec.Path, rec.Query, rec.Proto = r.Method, r.Host, r.URL.Path, r.URL.RawQuery, r.Proto
	rec.UserAgent = r.UserAgent()
	if r.TLS != nil {
		st.TLS = true
		rec.TLSVersion, rec.TLSGroup = tls.VersionName(r.TLS.Version), r.TLS.CurveID.String()
		st.JA4 = ja4(r)
		g.countHandshake(r)
	}
	rw := &recorder{ResponseWriter: w}
	metrics := s.unmatched
	var span trace.Span // the request's span, when tracing
	g.metrics.RequestStarted()
	defer g.metrics.RequestDone()
	defer func() {
		if span != nil {
			defer g.tracer.FinishRequest(span, st) // after finish: the status is known
		}
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared by identity, as net/http does
				s.finish(st, rw, r, metrics)
				panic(v)
			}
			g.log.Error("panic serving request", "request_id", st.RequestID, "panic", fmt.Sprint(v))
			st.Problem = problem.Internal.Slug
			if rw.status == 0 {
				problem.Write(rw, problem.New(problem.Internal, "The gateway failed while handling the request. Retry; if it persists, report the request id to the API operator.").Rebase(s.problemBase), st.RequestID)
			}
		}
		s.finish(st, rw, r, metrics)
	}()

	// 1: request id, trace context.
	if g.tracer != nil {
		var ctx context.Context
		ctx, span = g.tracer.StartRequest(r)
		r = r.WithContext(ctx)
		st.TraceParent = tracing.TraceParent(span)
		rec.TraceID = span.SpanContext().TraceID().String()
	} else {
		rec.TraceID, st.TraceParent = traceparent(r.Header.Get("Traceparent"))
	}
	peer, _ := netip.ParseAddrPort(r.RemoteAddr)
	trustedPeer := len(s.trusted) > 0 && s.trusted.Contains(peer.Addr())
	// A request id is adopted only from a trusted proxy; a client's own
	// is logged beside the gateway's.
	rec.RequestID = rec.TraceID
	if id := r.Header.Get("X-Request-Id"); id != "" {
		if trustedPeer && validRequestID(id) {
			rec.RequestID = id
		} else {
			rec.ClientRequestID = problem.Clip(id, 128)
		}
	}
	rw.requestID[0] = rec.RequestID
	rw.Header()["X-Request-Id"] = rw.requestID[:]
	if s.hsts != "" && st.TLS {
		rw.Header()["Strict-Transport-Security"] = []string{s.hsts}
	}
	if g.draining.Load() {
		rw.Header()["Connection"] = []string{"close"} // clients reconnect elsewhere
	}
	if r.ContentLength != 0 && s.bodyTimeout > 0 {
		// Slow-body guard: the body must arrive within bodyTimeout.
		_ = http.NewResponseController(w).SetReadDeadline(rec.Start.Add(s.bodyTimeout))
	}
	ci, _ := r.Context().Value(connInfoKey{}).(*connInfo)
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 && (ci == nil || ci.wire == nil) {
		st.HostMissing = http1.HostMissing(r.Context()) // the gateway's own HTTP/1.1 server
	}
	if ci != nil && ci.wire != nil && r.ProtoMajor == 1 {
		st.Wire = ci.wire
		if r.ProtoMinor == 0 {
			st.HostMissing = ci.wire.hostMissing()
		}
		if len(r.Header["Upgrade"]) > 0 {
			// The wire holds what follows an upgrade request until it
			// knows whether the protocol switched (the proxy tells it
			// when it relays a 101; this, otherwise).
			defer ci.wire.upgradeDone()
		}
	}
	ctx := reqctx.With(r.Context(), st)
	r = r.WithContext(ctx)
	st.ClientIP = guard.ClientIP(peer.Addr(), r.Header["X-Forwarded-For"], s.trusted)
	rec.ClientIP = addrString(st.ClientIP, peer, r.RemoteAddr)
	if wr := wireRefusal(r, ci); wr != nil {
		// A stand-in for a request head guard.Wire refused: nothing of
		// the client's request is known but its connection.
		rec.Method, rec.Host, rec.Path, rec.Query = "", "", "", ""
		rw.Header()["Connection"] = []string{"close"}
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: wr.Type, Reason: wr.Reason, Stage: "sanitize", Rule: "http1_framing", Detail: wr.Detail})
		return
	}
	if s.httpsPort != "" && !st.TLS {
		s.redirectHTTPS(rw, r)
		return
	}

	// 2: sanitise.
	// Measured before sanitising: headers the gateway strips count too.
	if n := guard.HeaderBytes(r); n > s.maxHeaderBytes {
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: problem.HeadersTooLarge, Reason: "headers_too_large", Stage: "sanitize", Rule: "max_header_bytes",
			Detail: fmt.Sprintf("The request line and headers are %d bytes; the limit is %d. Send fewer or smaller headers and cookies.", n, s.maxHeaderBytes)})
		return
	}
	if hr := s.headers.Check(r); hr != nil {
		rw.Header()["Connection"] = []string{"close"} // a proxy in front may have read the head otherwise
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: hr.Type, Reason: hr.Reason, Stage: "sanitize", Rule: "header_rules", Detail: hr.Detail})
		return
	}
	st.Upgrade = guard.Sanitize(r, trustedPeer, st)
	pathFlags, msg := guard.NormalizePath(r, false)
	if msg == "" && pathFlags.Parameters {
		// Routed as a parameter-dropping server would read it; only a
		// route that strips parameters takes it (below).
		_, msg = guard.NormalizePath(r, true)
	}
	if msg != "" {
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: problem.BadRequest, Reason: "non_canonical_path", Stage: "sanitize", Detail: msg})
		return
	}

	// The developer portal answers under its path, before routing.
	if s.portal != nil && webui.Under(r.URL.Path, s.portalPath) {
		rec.Route, metrics = portalRoute, s.portalMetrics
		s.portal.ServeHTTP(rw, r)
		return
	}

	// 3: route.
	res := s.table.Lookup(r.Host, r.Method, r.URL.Path, r.Header, &st.Match)
	if res == route.MethodNotAllowed && r.Method == http.MethodOptions && r.Header.Get("Origin") != "" {
		// A CORS preflight is routed as the request it asks about, when
		// that route's policy answers preflights (stage 5).
		if m := r.Header.Get("Access-Control-Request-Method"); m != "" {
			var pre route.Match
			if s.table.Lookup(r.Host, m, r.URL.Path, r.Header, &pre) == route.Found && s.routes[pre.ID].cors {
				res, st.Match = route.Found, pre
			}
		}
	}
	if pathFlags.Parameters && (res != route.Found || !s.routes[st.Match.ID].stripParams) {
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: problem.BadRequest, Reason: "non_canonical_path", Stage: "route", Rule: "path_parameters",
			Detail: "The path holds a ';' parameter (as in /a;jsessionid=1/b), which servers resolve differently: some drop it before routing, others do not. Send the path without it, or ask the API operator to set path_parameters: strip on the route."})
		return
	}
	if pathFlags.EncodedSlash && (res != route.Found || !s.routes[st.Match.ID].encodedSlashes) {
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: problem.BadRequest, Reason: "non_canonical_path", Stage: "route", Rule: "allow_encoded_slashes",
			Detail: "The path contains an encoded slash or a backslash (%2F, %5C), which this endpoint does not accept. Send / between segments, or ask the API operator to allow encoded slashes on the route."})
		return
	}
	switch res {
	case route.NotFound:
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: problem.NotFound, Reason: "not_found", Stage: "route",
			Detail: "No API is served at " + r.Method + " " + problem.Clip(r.URL.Path, 200) + " on this host. Check the URL against the API documentation."})
		return
	case route.MethodNotAllowed:
		// Counted under the route whose path matched: the API was found,
		// the method is wrong.
		rec.Route, metrics = s.routes[st.Match.ID].name, s.routes[st.Match.ID].metrics
		allow := st.Match.Allow.String()
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: problem.MethodNotAllowed, Reason: "method_not_allowed", Stage: "route",
			Detail: "This endpoint does not accept " + problem.Clip(r.Method, 20) + ". Use one of: " + allow + ".",
			Header: map[string]string{"Allow": allow}})
		return
	}
	cr := s.routes[st.Match.ID]
	rec.Route, metrics = cr.name, cr.metrics
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && guard.HasBody(r) && !cr.allowGetBody {
		rw.Header()["Connection"] = []string{"close"}
		reqctx.Refuse(rw, r, reqctx.Refusal{Type: problem.BadRequest, Reason: "body_on_get", Stage: "route", Rule: "allow_get_body",
			Detail: "This " + r.Method + " request carries a body, which servers and caches disagree on. Send the data in the query or use POST, or ask the API operator to set allow_get_body: true on the route."})
		return
	}
	cr.handler.ServeHTTP(rw, r)
}

func (s *Snapshot) finish(st *reqctx.State, rw *recorder, r *http.Request, m *observe.RouteMetrics) {
	rec := &st.AccessRecord
	if rec.Status == 0 {
		rec.Status = rw.status
		if rec.Status == 0 {
			rec.Status = http.StatusOK
		}
	}
	rec.BytesOut = rw.bytes
	d := time.Since(rec.Start)
	m.Observe(rec.Status, d.Seconds())
	if id := st.Match.ID; rec.Route != "" && id < len(s.routes) && s.routes[id].baseline != nil && s.routes[id].name == rec.Route {
		s.routes[id].baseline.Observe(rec.Status, d)
	}
	s.g.access.Log(rec, r.Header)
}

// redirectHTTPS answers a cleartext request with a 308 to the same URL on
// the TLS listener (308 keeps the method and body, unlike 301/302).
func (s *Snapshot) redirectHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/\\@ ") {
		reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.BadRequest, Reason: "bad_host", Stage: "sanitize",
			Detail: "This listener redirects to HTTPS and needs a valid Host header."})
		return
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	port := s.httpsPort
	if p, ok := s.g.tlsPort.Load().(string); ok && port == "0" {
		port = p // listen addresses cannot change on reload, so this holds
	}
	if port != "443" {
		host += ":" + port
	}
	w.Header().Set("Location", "https://"+host+r.URL.RequestURI())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusPermanentRedirect)
}

// wafLogFlush is the LineWriter's interval for waf.log_file; each
// transaction's lines are written before the client is answered anyway
// (LineWriter.Synchronous), so the CRS tooling (go-ftw), which reads the
// file right after each response, finds them.
const wafLogFlush = time.Second

// addrString is ip as text: for a client that is the connection's own
// IPv4 peer (peer was parsed from remoteAddr, "a.b.c.d:port", and
// netip reads IPv4 only in its canonical form), the address part of
// remoteAddr, which costs no allocation.
func addrString(ip netip.Addr, peer netip.AddrPort, remoteAddr string) string {
	if ip.Is4() && peer.Addr() == ip {
		if host, _, ok := strings.Cut(remoteAddr, ":"); ok {
			return host
		}
	}
	return ip.String()
}
