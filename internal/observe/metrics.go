package observe

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the gateway's Prometheus metrics in a registry of its own
// (no package-global state).
type Metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	upstreamDur   *prometheus.HistogramVec
	refusals      *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	lastReload    prometheus.Gauge
	configOK      prometheus.Gauge
	tls           *prometheus.CounterVec
	certExpiry    *prometheus.GaugeVec
	dropped       *prometheus.CounterVec
	connRefused   prometheus.Counter
	retries       *prometheus.CounterVec
	upstreamErrs  *prometheus.CounterVec
	authn         *prometheus.CounterVec
	authnChildren *counters
	authz         *prometheus.CounterVec
	ratelimit     *prometheus.CounterVec
	stateErrors   prometheus.Counter
	concurrency   *prometheus.CounterVec
	quota         *prometheus.CounterVec
	deprecated    *prometheus.CounterVec
	cache         *prometheus.CounterVec
	transform     *prometheus.CounterVec
	abuse         *prometheus.CounterVec
	shed          *prometheus.CounterVec
	bots          *prometheus.CounterVec
	waf           *prometheus.CounterVec
	schemaResp    *prometheus.CounterVec
	respFilter    *prometheus.CounterVec
	masked        *prometheus.CounterVec
	wafGroups     *prometheus.CounterVec
	fieldCrypto   *prometheus.CounterVec
	shedLimit     *prometheus.GaugeVec
	idp           *prometheus.CounterVec
	connsOpen     prometheus.Gauge
	inFlight      prometheus.Gauge
	threatIntel   *prometheus.CounterVec
	correlation   *prometheus.CounterVec
	feedEntries   *prometheus.GaugeVec
	feedRefresh   *prometheus.CounterVec
	feedSuccess   *prometheus.GaugeVec
}

// TargetHealth is one upstream target's state, read at scrape time.
type TargetHealth struct {
	Upstream    string `json:"upstream"`
	Target      string `json:"target"`
	Healthy     bool   `json:"healthy"`
	BreakerOpen bool   `json:"breaker_open"`
	InFlight    int64  `json:"in_flight"`
}

// NewMetrics registers every metric. health, if not nil, is called at
// scrape time for upstream target state.
func NewMetrics(version string, health func() []TargetHealth) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_requests_total", Help: "Requests by route and response status."}, []string{"route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rampart_request_duration_seconds", Help: "Total request latency by route.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route"})
	m.upstreamDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rampart_upstream_duration_seconds", Help: "Upstream response header latency by upstream.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"upstream"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_refusals_total", Help: "Requests and connections refused by the gateway, by route (\"\" before routing), stage and reason. Every label comes from the config or the code: no client, consumer or address."}, []string{"route", "stage", "reason"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_config_reloads_total", Help: "Config reloads by result."}, []string{"result"})
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{Name: "rampart_config_last_reload_success_timestamp_seconds", Help: "When the serving config was applied."})
	m.configOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "rampart_config_last_reload_successful", Help: "1 if the last reload attempt applied, 0 if it was refused."})
	m.certExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rampart_tls_certificate_expiry_timestamp_seconds", Help: "When each listener certificate expires (Unix time), by name (its first DNS name, or the managed domain) and source (file or acme): alert on it minus time() falling under your renewal margin."}, []string{"name", "source"})
	m.tls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_tls_handshakes_total", Help: "Completed TLS handshakes by version and key-exchange group."}, []string{"version", "group"})
	m.dropped = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_events_dropped_total", Help: "Security events dropped because a sink's queue was full."}, []string{"sink"})
	m.connRefused = prometheus.NewCounter(prometheus.CounterOpts{Name: "rampart_connections_refused_total", Help: "Connections closed by the per-IP connection cap."})
	m.connsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "rampart_connections_open", Help: "Client connections open on the traffic listeners."})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "rampart_requests_in_flight", Help: "Requests being served."})
	m.upstreamErrs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_upstream_errors_total", Help: "Upstream failures by upstream and kind: connect, reset, timeout, truncated_response (the body broke off after the status was relayed), invalid_response (headers too large, malformed), other."}, []string{"upstream", "kind"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_upstream_retries_total", Help: "Upstream retries by upstream and result (done, budget_exhausted)."}, []string{"upstream", "result"})
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "rampart_build_info", Help: "Build information.", ConstLabels: prometheus.Labels{"version": version}})
	info.Set(1)
	m.authn = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_authn_total", Help: "Authentication outcomes by authenticator and result (accepted, invalid, unavailable, missing)."}, []string{"authenticator", "result"})
	m.idp = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_idp_fetches_total", Help: "Fetches of IdP documents (JWKS, discovery, introspection) by authenticator and result."}, []string{"authenticator", "result"})
	m.authz = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_authz_total", Help: "Authorization decisions by policy, decision (allow, deny) and the check that decided."}, []string{"policy", "decision", "check"})
	m.ratelimit = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_ratelimit_total", Help: "Rate-limit checks by policy, limit and outcome (admitted, refused, shadow_refused)."}, []string{"policy", "limit", "outcome"})
	m.stateErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "rampart_state_errors_total", Help: "Calls to the shared rate-limit state (Redis) that failed; state.on_state_error decided those requests."})
	m.concurrency = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_concurrency_total", Help: "Concurrency-cap decisions by policy and outcome (admitted, refused)."}, []string{"policy", "outcome"})
	m.transform = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_transform_total", Help: "Request and response transformation outcomes by route: transformed (edits made), refused (a value the request lacks, a body that is not JSON), error_replaced (an upstream error body replaced by a problem), response_refused (a response that could not be edited, withheld)."}, []string{"route", "outcome"})
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_cache_total", Help: "Response cache outcomes by route: hit (answered from the cache), miss (sent upstream), stored (a miss kept), bypass (not a GET, a range, or no-store asked), revalidated (a stale entry the upstream confirmed with a 304), stale (a stale entry answered in place of an upstream error)."}, []string{"route", "outcome"})
	m.deprecated = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_deprecated_requests_total", Help: "Requests to deprecated routes by route and outcome (served before the sunset, gone after it). The consumers still calling are in route.deprecated events."}, []string{"route", "outcome"})
	m.quota = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_quota_total", Help: "Quota decisions by policy and outcome (admitted, refused)."}, []string{"policy", "outcome"})
	m.abuse = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_abuse_total", Help: "Graduated-response actions by policy and outcome (warned, throttled, blocked, banned, refused_banned)."}, []string{"policy", "outcome"})
	m.shed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_shed_total", Help: "Requests shed by adaptive load shedding, by upstream and priority."}, []string{"upstream", "priority"})
	m.shedLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rampart_shed_limit", Help: "The adaptive concurrency limit of each upstream with load shedding."}, []string{"upstream"})
	m.bots = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_bots_total", Help: "Bot-defence decisions by policy, rule (or good bot) and outcome (flagged, challenged, solved, passed, blocked, good_bot)."}, []string{"policy", "rule", "outcome"})
	m.waf = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_waf_total", Help: "WAF decisions by policy and outcome: blocked, detected, passed (requests); response_blocked, response_detected (inspect_responses)."}, []string{"policy", "outcome"})
	m.schemaResp = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_schema_responses_total", Help: "Upstream responses checked against the OpenAPI description (validate.responses: detect), by policy and outcome (valid, invalid, unchecked)."}, []string{"policy", "outcome"})
	m.respFilter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_response_filter_total", Help: "Upstream responses through a policy's response filters, by policy and outcome: filtered (something removed or masked), clean (nothing to change), skipped (not JSON or text), oversize_passed, refused."}, []string{"policy", "outcome"})
	m.masked = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_masked_values_total", Help: "Values masked in responses, by policy and detector (email, card, ...). The values themselves are never recorded."}, []string{"policy", "detector"})
	m.wafGroups = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_waf_rule_groups_total", Help: "Blocked or detected requests by policy and the CRS rule group they matched (sqli, xss, rce, lfi, php, protocol-enforcement ...; custom for your own rules)."}, []string{"policy", "group"})
	m.fieldCrypto = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_field_encryption_total", Help: "Request bodies through a policy's request.encrypt_fields, by policy and outcome: encrypted, unchanged (no such field), skipped (no JSON body), refused."}, []string{"policy", "outcome"})
	m.threatIntel = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_threat_intel_total", Help: "Clients listed by a threat-intelligence feed, by policy, feed and outcome (blocked, challenged, solved, passed, flagged)."}, []string{"policy", "feed", "outcome"})
	m.feedEntries = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rampart_threat_feed_entries", Help: "Entries in the list each threat-intelligence feed has in use."}, []string{"feed"})
	m.feedRefresh = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_threat_feed_refreshes_total", Help: "Threat-intelligence feed refreshes by feed and result: updated (a new list in use), unchanged (304, or the file not modified), failed (the previous list stays; see threat_intel.feed_failed events)."}, []string{"feed", "result"})
	m.feedSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rampart_threat_feed_last_success_timestamp_seconds", Help: "When each threat-intelligence feed was last refreshed without error (Unix time): alert when time() minus it grows past a few refresh periods."}, []string{"feed"})
	m.authnChildren = &counters{vec: m.authn}
	m.correlation = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rampart_correlation_total", Help: "Attack correlation by policy, detector (credential_stuffing, enumeration) and outcome: observed (a failure or refusal counted), detected (one past the thresholds)."}, []string{"policy", "detector", "outcome"})
	m.reg.MustRegister(m.threatIntel, m.feedEntries, m.feedRefresh, m.feedSuccess, m.correlation)
	m.reg.MustRegister(m.certExpiry)
	m.reg.MustRegister(m.authn, m.idp, m.authz, m.ratelimit, m.stateErrors, m.concurrency, m.quota, m.deprecated, m.cache, m.transform, m.abuse, m.shed, m.shedLimit, m.bots, m.waf, m.schemaResp, m.respFilter, m.masked, m.fieldCrypto, m.wafGroups)
	m.reg.MustRegister(m.requests, m.duration, m.upstreamDur, m.refusals, m.reloads, m.lastReload, m.configOK, m.tls, m.dropped, m.connRefused, m.retries, m.upstreamErrs, m.connsOpen, m.inFlight, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if health != nil {
		m.reg.MustRegister(&healthCollector{health: health})
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Gatherer reads the metrics in process (the security dashboard).
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Refusal counts one refusal.
func (m *Metrics) Refusal(route, stage, reason string) {
	m.refusals.WithLabelValues(route, stage, reason).Inc()
}

// Reload counts one reload attempt.
func (m *Metrics) Reload(ok bool, unixSeconds float64) {
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.lastReload.Set(unixSeconds)
		m.configOK.Set(1)
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
	m.configOK.Set(0)
}

// TLSHandshake counts one handshake.
func (m *Metrics) TLSHandshake(version, group string) { m.tls.WithLabelValues(version, group).Inc() }

// CertificateExpiry records when a listener certificate expires.
func (m *Metrics) CertificateExpiry(name, source string, notAfter time.Time) {
	m.certExpiry.WithLabelValues(name, source).Set(float64(notAfter.Unix()))
}

// EventDropped counts one dropped event.
func (m *Metrics) EventDropped(sink string) { m.dropped.WithLabelValues(sink).Inc() }

// EventsDropped counts n events a sink lost at once (a batch).
func (m *Metrics) EventsDropped(sink string, n int) { m.dropped.WithLabelValues(sink).Add(float64(n)) }

// ConnectionRefused counts one connection closed by the per-IP cap.
func (m *Metrics) ConnectionRefused() { m.connRefused.Inc() }

// ConnOpened and ConnClosed track open client connections.
func (m *Metrics) ConnOpened() { m.connsOpen.Inc() }

// ConnClosed is the counterpart of ConnOpened.
func (m *Metrics) ConnClosed() { m.connsOpen.Dec() }

// RequestStarted and RequestDone track requests in flight.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestDone is the counterpart of RequestStarted.
func (m *Metrics) RequestDone() { m.inFlight.Dec() }

// Authn counts one authentication outcome.
func (m *Metrics) Authn(authenticator, result string) {
	m.authnChildren.inc(authenticator, result)
}

// Authz returns the counter of one policy's decisions, by decision and
// check.
func (m *Metrics) Authz(policy string) func(decision, check string) {
	c := &counters{vec: m.authz.MustCurryWith(prometheus.Labels{"policy": policy})}
	return c.inc
}

// RateLimit returns the counter of one policy's rate-limit checks.
func (m *Metrics) RateLimit(policy string) func(limit, outcome string) {
	c := &counters{vec: m.ratelimit.MustCurryWith(prometheus.Labels{"policy": policy})}
	return c.inc
}

// Concurrency returns the counter of one policy's concurrency decisions.
func (m *Metrics) Concurrency(policy string) func(outcome string) {
	return byOutcome(m.concurrency, policy)
}

// Cache returns the counter of one route's response cache outcomes.
func (m *Metrics) Cache(route string) func(outcome string) {
	c := &counters{vec: m.cache.MustCurryWith(prometheus.Labels{"route": route}), one: true}
	return func(outcome string) { c.inc(outcome, "") }
}

// Transform returns the counter of one route's transform outcomes.
func (m *Metrics) Transform(route string) func(outcome string) {
	c := &counters{vec: m.transform.MustCurryWith(prometheus.Labels{"route": route}), one: true}
	return func(outcome string) { c.inc(outcome, "") }
}

// Deprecated returns the counter of one deprecated route's requests.
func (m *Metrics) Deprecated(route string) func(outcome string) {
	c := &counters{vec: m.deprecated.MustCurryWith(prometheus.Labels{"route": route}), one: true}
	return func(outcome string) { c.inc(outcome, "") }
}

// Quota returns the counter of one policy's quota decisions.
func (m *Metrics) Quota(policy string) func(outcome string) { return byOutcome(m.quota, policy) }

// WAFGroups returns the counter of one policy's WAF matches by rule group.
func (m *Metrics) WAFGroups(policy string) func(group string) { return byOutcome(m.wafGroups, policy) }

// WAF returns the counter of one policy's WAF decisions.
func (m *Metrics) WAF(policy string) func(outcome string) { return byOutcome(m.waf, policy) }

// SchemaResponses returns the counter of one policy's response checks.
func (m *Metrics) SchemaResponses(policy string) func(outcome string) {
	return byOutcome(m.schemaResp, policy)
}

// ResponseFilter returns the counter of one policy's filtered responses.
func (m *Metrics) ResponseFilter(policy string) func(outcome string) {
	return byOutcome(m.respFilter, policy)
}

// FieldEncryption returns the counter of one policy's request bodies
// through encrypt_fields.
func (m *Metrics) FieldEncryption(policy string) func(outcome string) {
	return byOutcome(m.fieldCrypto, policy)
}

// Masked returns the counter of one policy's masked values, by detector.
func (m *Metrics) Masked(policy string) func(detector string, n int) {
	v := m.masked.MustCurryWith(prometheus.Labels{"policy": policy})
	return func(detector string, n int) { v.WithLabelValues(detector).Add(float64(n)) }
}

// Abuse returns the counter of one policy's graduated-response actions.
func (m *Metrics) Abuse(policy string) func(outcome string) { return byOutcome(m.abuse, policy) }

// Bots returns the counter of one policy's bot-defence decisions.
func (m *Metrics) Bots(policy string) func(rule, outcome string) {
	v := m.bots.MustCurryWith(prometheus.Labels{"policy": policy})
	return func(rule, outcome string) { v.WithLabelValues(rule, outcome).Inc() }
}

// ThreatIntel returns the counter of one policy's threat-intelligence
// matches, by feed and outcome.
func (m *Metrics) ThreatIntel(policy string) func(feed, outcome string) {
	c := &counters{vec: m.threatIntel.MustCurryWith(prometheus.Labels{"policy": policy})}
	return func(feed, outcome string) { c.inc(feed, outcome) }
}

// Correlation returns the counter of one policy's attack correlation, by
// detector and outcome.
func (m *Metrics) Correlation(policy string) func(detector, outcome string) {
	c := &counters{vec: m.correlation.MustCurryWith(prometheus.Labels{"policy": policy})}
	return func(detector, outcome string) { c.inc(detector, outcome) }
}

// ThreatFeed records one refresh of a feed: its result, and the entries
// of the list it has in use.
func (m *Metrics) ThreatFeed(feed, result string, entries int, now time.Time) {
	m.feedRefresh.WithLabelValues(feed, result).Inc()
	m.feedEntries.WithLabelValues(feed).Set(float64(entries))
	if result != "failed" {
		m.feedSuccess.WithLabelValues(feed).Set(float64(now.Unix()))
	}
}

// ForgetThreatFeed drops a feed's gauges when it is no longer configured.
func (m *Metrics) ForgetThreatFeed(feed string) {
	m.feedEntries.DeleteLabelValues(feed)
	m.feedSuccess.DeleteLabelValues(feed)
}

// Shed returns the counter of one upstream's shed requests, by priority.
func (m *Metrics) Shed(upstream string) func(priority string) {
	v := m.shed.MustCurryWith(prometheus.Labels{"upstream": upstream})
	return func(priority string) { v.WithLabelValues(priority).Inc() }
}

// ShedLimit returns the setter of one upstream's adaptive limit gauge.
func (m *Metrics) ShedLimit(upstream string) func(limit int) {
	g := m.shedLimit.WithLabelValues(upstream)
	return func(limit int) { g.Set(float64(limit)) }
}

// byOutcome is vec's counter for one policy, by outcome.
func byOutcome(vec *prometheus.CounterVec, policy string) func(outcome string) {
	c := &counters{vec: vec.MustCurryWith(prometheus.Labels{"policy": policy}), one: true}
	return func(outcome string) { c.inc(outcome, "") }
}

// counters finds a vector's counters by their one or two label values
// in a map that is only read on the request path (a copy with the new
// counter replaces it when a pair is first seen): WithLabelValues hashes
// and checks the values and takes a lock on every call. Label values on
// these paths come from the config and fixed lists, so the map stays
// small.
type counters struct {
	vec  *prometheus.CounterVec
	one  bool // one label: the second value is unused
	mu   sync.Mutex
	seen atomic.Pointer[map[[2]string]prometheus.Counter]
}

func (c *counters) inc(a, b string) {
	k := [2]string{a, b}
	if m := c.seen.Load(); m != nil {
		if ctr, ok := (*m)[k]; ok {
			ctr.Inc()
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.seen.Load()
	next := make(map[[2]string]prometheus.Counter, 1)
	if old != nil {
		maps.Copy(next, *old)
	}
	ctr, ok := next[k]
	if !ok {
		if c.one {
			ctr = c.vec.WithLabelValues(a)
		} else {
			ctr = c.vec.WithLabelValues(a, b)
		}
		next[k] = ctr
		c.seen.Store(&next)
	}
	ctr.Inc()
}

// StateError counts one failed call to the shared state.
func (m *Metrics) StateError() { m.stateErrors.Inc() }

// IdPFetch counts one call to an identity provider.
func (m *Metrics) IdPFetch(authenticator, result string) {
	m.idp.WithLabelValues(authenticator, result).Inc()
}

// Retry counts one retry decision.
func (m *Metrics) Retry(upstream, result string) { m.retries.WithLabelValues(upstream, result).Inc() }

// UpstreamError counts an upstream failure of the given kind.
func (m *Metrics) UpstreamError(upstream, kind string) {
	m.upstreamErrs.WithLabelValues(upstream, kind).Inc()
}

// Upstream returns the latency observer of an upstream, resolved once.
func (m *Metrics) Upstream(name string) prometheus.Observer {
	return m.upstreamDur.WithLabelValues(name)
}

// RouteMetrics are one route's series, resolved once per snapshot so the
// request path does no label hashing for the common statuses.
type RouteMetrics struct {
	m        *Metrics
	route    string
	duration prometheus.Observer
	// byCode is read without a lock (requests on every core read it, and
	// a read lock would be one more shared write per request); a status
	// not seen before copies it under mu.
	byCode atomic.Pointer[map[int]prometheus.Counter]
	mu     sync.Mutex
}

// Route returns the series of a route ("" for unmatched requests).
func (m *Metrics) Route(name string) *RouteMetrics {
	if name == "" {
		name = "(unmatched)"
	}
	r := &RouteMetrics{m: m, route: name, duration: m.duration.WithLabelValues(name)}
	r.byCode.Store(&map[int]prometheus.Counter{})
	return r
}

// Observe records one finished request.
func (r *RouteMetrics) Observe(code int, seconds float64) {
	r.duration.Observe(seconds)
	c := (*r.byCode.Load())[code]
	if c == nil {
		c = r.counter(code)
	}
	c.Inc()
}

// counter resolves the series of a status first seen, and keeps it.
func (r *RouteMetrics) counter(code int) prometheus.Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.byCode.Load()
	if c := old[code]; c != nil {
		return c
	}
	c := r.m.requests.WithLabelValues(r.route, strconv.Itoa(code))
	next := make(map[int]prometheus.Counter, len(old)+1)
	maps.Copy(next, old)
	next[code] = c
	r.byCode.Store(&next)
	return c
}

type healthCollector struct {
	health func() []TargetHealth
}

var (
	healthyDesc  = prometheus.NewDesc("rampart_upstream_target_healthy", "1 if the target takes traffic (health checks pass, not ejected).", []string{"upstream", "target"}, nil)
	breakerDesc  = prometheus.NewDesc("rampart_upstream_target_breaker_open", "1 if the target's circuit breaker is open.", []string{"upstream", "target"}, nil)
	inflightDesc = prometheus.NewDesc("rampart_upstream_target_in_flight", "Requests in flight to the target.", []string{"upstream", "target"}, nil)
)

func (h *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- healthyDesc
	ch <- breakerDesc
	ch <- inflightDesc
}

func (h *healthCollector) Collect(ch chan<- prometheus.Metric) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, t := range h.health() {
		ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, b(t.Healthy), t.Upstream, t.Target)
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, b(t.BreakerOpen), t.Upstream, t.Target)
		ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(t.InFlight), t.Upstream, t.Target)
	}
}
