// Package waf is stage 13 of the request path: the OWASP Core Rule Set
// run by Coraza, per policy, at a chosen paranoia level, blocking or only
// detecting, with exclusions for known false positives.
package waf

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Exclusion turns a rule off, everywhere or for one target only
// (ARGS:json.note, REQUEST_COOKIES:session ...).
type Exclusion struct {
	Rule   int
	Target string
}

// Options configure one WAF.
type Options struct {
	Paranoia   int  // 1-4
	Detect     bool // log and report, never block
	Threshold  int  // inbound anomaly score that blocks
	BodyLimit  int64
	Exclusions []Exclusion
	// RulesBefore are the operator's own SecLang rules run before the
	// CRS (after its setup), as the CRS's REQUEST-900 exclusion file
	// does: they can set the tx variables the CRS reads (allowed
	// methods, content types, limits) and remove rules at run time.
	RulesBefore string
	// Rules are the operator's own SecLang rules, after the CRS.
	Rules string
	// Responses runs the response phases too: the CRS's data-leakage
	// rules (950-959) on the upstream's headers and, up to
	// ResponseBodyLimit, on bodies of text, HTML, XML and JSON.
	Responses         bool
	ResponseBodyLimit int64
	// Log, if set, gets one line per rule match in Coraza's error-log
	// format (the ModSecurity one the CRS tooling reads): each
	// transaction's lines in one Write, before the client is answered.
	Log io.Writer
}

// Directives is the Coraza configuration for o: the recommended engine
// settings (Coraza's literal prefilter for @rx off, as it recommends: on,
// it missed 942220 on "2.2250738585072011e-308" and 932311 on an IMAP
// command after CRLF, TestRxPrefilterMisses), the CRS setup with o's paranoia level and threshold, the
// operator's rules to run first, the CRS, the operator's rules to run
// after, then the exclusions (which must follow the rules they change).
func Directives(o Options) string {
	engine := "On"
	if o.Detect {
		engine = "DetectionOnly"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Include @coraza.conf-recommended
SecRuleEngine %s
SecRequestBodyAccess On
SecRequestBodyLimit %d
SecRequestBodyInMemoryLimit %d
SecRequestBodyLimitAction ProcessPartial
%s
SecAuditEngine Off
SecRxPreFilter Off
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"
SecAction "id:900001,phase:1,pass,t:none,nolog,setvar:tx.detection_paranoia_level=%d"
SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d"
SecDefaultAction "phase:5,log,auditlog,pass"
`, engine, o.BodyLimit, o.BodyLimit, responseDirectives(o), o.Paranoia, o.Paranoia, o.Threshold)
	if o.RulesBefore != "" {
		b.WriteString(o.RulesBefore)
		b.WriteString("\n")
	}
	b.WriteString("Include @owasp_crs/*.conf\n")
	if o.Rules != "" {
		b.WriteString(o.Rules)
		b.WriteString("\n")
	}
	for _, e := range o.Exclusions {
		if e.Target == "" {
			fmt.Fprintf(&b, "SecRuleRemoveById %d\n", e.Rule)
		} else {
			fmt.Fprintf(&b, "SecRuleUpdateTargetById %d \"!%s\"\n", e.Rule, e.Target)
		}
	}
	return b.String()
}

// responseDirectives turn response inspection on or off. Bodies are
// inspected up to the limit, the rest passes uninspected (as ModSecurity's
// ProcessPartial); only media types the leakage rules are written for.
func responseDirectives(o Options) string {
	if !o.Responses {
		return "SecResponseBodyAccess Off"
	}
	// The CRS setup gives default actions for the request phases only;
	// without these the response rules' matches would not be logged.
	return fmt.Sprintf(`SecResponseBodyAccess On
SecResponseBodyLimit %d
SecResponseBodyLimitAction ProcessPartial
SecResponseBodyMimeType text/plain text/html text/xml application/json application/xml application/problem+json
SecDefaultAction "phase:3,log,auditlog,pass"
SecDefaultAction "phase:4,log,auditlog,pass"`, o.ResponseBodyLimit)
}

// New compiles the rule set for o (about a second: the CRS is large).
// The matched-rule log (o.Log) is written by the Stage, per transaction.
func New(o Options) (coraza.WAF, error) {
	return coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(Directives(o)))
}

// logPhaseRule finds a rule of the logging phase in SecLang.
var logPhaseRule = regexp.MustCompile(`phase:\s*'?(?:5|logging)\b`)

// LogPhase reports whether the logging phase (5) must run after each
// request: when there is a log for its lines (the CRS's correlation rule
// 980170 writes one) or the operator's own rules have that phase.
// Otherwise it is skipped: it costs about a tenth of an inspection and
// the CRS's phase-5 rules only write log lines.
func (o Options) LogPhase() bool {
	return o.Log != nil || logPhaseRule.MatchString(o.Rules) || logPhaseRule.MatchString(o.RulesBefore)
}

// Gate admits a bounded number of inspections at once, first come first
// served. Inspection is pure CPU work (milliseconds of it for a JSON
// body): running more at once than there are CPUs gains no throughput and
// costs each request the time of all the others, besides the cache and
// memory of that many live transactions. Behind the gate they finish one
// after another instead. A nil Gate admits everything.
type Gate chan struct{}

// NewGate admits n inspections at once.
func NewGate(n int) Gate { return make(Gate, max(n, 1)) }

// enter waits for a slot; false if the request was cancelled first.
func (g Gate) enter(done <-chan struct{}) bool {
	if g == nil {
		return true
	}
	select {
	case g <- struct{}{}:
		return true
	case <-done:
		return false
	}
}

func (g Gate) leave() {
	if g != nil {
		<-g
	}
}

// Stage inspects requests with one WAF.
type Stage struct {
	WAF    coraza.WAF
	Detect bool
	Policy string
	Count  func(outcome string) // blocked, detected, passed; may be nil
	// CountGroup counts the CRS rule groups (RuleGroup) of the rules a
	// blocked or detected request matched; may be nil.
	CountGroup func(group string)
	// Gate bounds inspections at once, shared by every policy's stage;
	// the body is read before a slot is taken, so a slow client holds
	// none.
	Gate Gate
	// LogPhase runs the logging phase after inspection (Options.LogPhase).
	LogPhase bool
	// Log gets each transaction's matched-rule lines (Options.Log) in one
	// Write, before the client is answered: a tool that reads the log
	// right after a response (go-ftw) finds them. May be nil.
	Log io.Writer
	// Responses inspects the upstream's responses (Options.Responses),
	// holding each until inspected: headers always, the body up to
	// ResponseBodyLimit when its media type is one the rules read.
	Responses         bool
	ResponseBodyLimit int
	// Route holds what the route tells the CRS (ForRoute).
	Route RouteVars
}

// RouteVars are what a route declares that the CRS otherwise assumes:
// they are set as tx variables before the rules run, so the CRS's
// defaults (901160, 901162) do not replace them and the operator's
// rules_before can still.
type RouteVars struct {
	// Methods is tx.allowed_methods, e.g. "GET HEAD PUT": 911100 flags
	// any other. Empty keeps the CRS default (GET HEAD POST OPTIONS).
	Methods string
	// ContentTypes is tx.allowed_request_content_type, e.g.
	// "|application/json|": 920420 flags any other. Empty keeps the
	// CRS default.
	ContentTypes string
	// Streaming routes (gRPC) carry bodies the WAF does not read: their
	// requests are checked on the line and headers.
	Streaming bool
}

// RouteVarsOf are the RouteVars of a route serving methods (none: every
// method of an API) with bodies of contentTypes (none: the CRS's list and
// the JSON patch formats). The CRS would otherwise allow only GET, HEAD,
// POST and OPTIONS and flag every PUT, PATCH and DELETE of an API
// (911100), and a JSON merge patch (920420).
func RouteVarsOf(methods, contentTypes []string) RouteVars {
	if len(methods) == 0 {
		methods = apiMethods
	}
	var ms []string
	for _, m := range methods {
		if !slices.Contains(ms, m) {
			ms = append(ms, m)
		}
		if m == http.MethodGet && !slices.Contains(methods, http.MethodHead) {
			ms = append(ms, http.MethodHead) // the router serves HEAD on a GET route
		}
	}
	if len(contentTypes) == 0 {
		contentTypes = defaultContentTypes
	}
	var b strings.Builder
	for i, t := range contentTypes {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("|" + strings.ToLower(t) + "|")
	}
	return RouteVars{Methods: strings.Join(ms, " "), ContentTypes: b.String()}
}

// apiMethods are the methods of a route that names none: every method of
// an API, not TRACE (cross-site tracing) nor CONNECT (refused on the wire).
var apiMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// defaultContentTypes are the body media types the CRS allows by default
// (901162) and the JSON patch formats a PATCH of a JSON API sends (RFC
// 7386, RFC 6902), for a policy that lists none (validate.content_types).
var defaultContentTypes = []string{"application/x-www-form-urlencoded", "multipart/form-data", "text/xml", "application/xml",
	"application/soap+xml", "application/json", "application/merge-patch+json", "application/json-patch+json"}

// ForRoute is s for one route of its policy.
func (s *Stage) ForRoute(v RouteVars) *Stage {
	c := *s
	c.Route = v
	return &c
}

// Name names the stage in traces and docs/architecture.md (stage 13).
func (s *Stage) Name() string { return "waf" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		var body []byte
		if guard.HasBody(r) && !s.Route.Streaming {
			var ok bool
			if body, ok = guard.ReadBody(w, r); !ok {
				return // the body was over its limit or too slow
			}
		}
		if !s.Gate.enter(r.Context().Done()) {
			return // the client went away while waiting
		}
		t := &txn{s: s, tx: s.WAF.NewTransactionWithID(st.RequestID)}
		defer t.close()
		blocked, detected, ids := s.verdict(t.tx, r, inspected(st, r.Header.Get("Content-Type"), body))
		t.writeLog()
		switch {
		case blocked:
			s.count("blocked")
			s.countGroups(ids)
			t.end()
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.WAFBlocked, Reason: "waf", Stage: "waf", Rule: ids,
				Detail: "The request looks like an attack (for example SQL or script injection) and was refused. If it is legitimate, " +
					"give the API operator the request id so the rule can be tuned."})
			return
		case detected:
			s.count("detected")
			s.countGroups(ids)
			s.detected(r, ids, "The WAF (detect mode) matched attack rules; the request was let through.")
		default:
			s.count("passed")
		}
		if !s.Responses {
			t.close() // not held while the upstream answers
			next.ServeHTTP(w, r)
			return
		}
		// The headers the gateway set so far (request id, rate limits) are
		// the ones a withheld response keeps, as any refusal does.
		h := &heldResponse{ResponseWriter: w, s: s, t: t, tx: t.tx, r: r, own: w.Header().Clone()}
		next.ServeHTTP(h, r)
		h.finish()
	})
}

// txn is one request's Coraza transaction: its matched-rule lines go to
// the log as each group of phases ends, and the logging phase runs once,
// before the client is answered.
type txn struct {
	s      *Stage
	tx     types.Transaction
	logged int // matched rules already looked at for the log
	ended  bool
	closed bool
}

// writeLog writes the lines of the rules matched since the last call
// that have the log action, in one Write.
func (t *txn) writeLog() {
	m := t.tx.MatchedRules()
	if t.s.Log == nil || t.logged == len(m) {
		t.logged = len(m)
		return
	}
	var b []byte
	for _, mr := range m[t.logged:] {
		if l, ok := mr.(interface{ Log() bool }); ok && !l.Log() {
			continue
		}
		b = append(b, mr.ErrorLog()...)
		b = append(b, '\n')
	}
	t.logged = len(m)
	if len(b) > 0 {
		_, _ = t.s.Log.Write(b)
	}
}

// end runs the logging phase, when the stage does, and logs its matches.
func (t *txn) end() {
	if t.ended {
		return
	}
	t.ended = true
	if t.s.LogPhase {
		t.tx.ProcessLogging()
	}
	t.writeLog()
}

// close ends the transaction and gives it back to Coraza's pool (about a
// megabyte for a JSON body).
func (t *txn) close() {
	if t.closed {
		return
	}
	t.end()
	t.closed = true
	_ = t.tx.Close()
}

// inspected is the body as the rules read it: a JSON body without the
// fields schema validation proved typed (reqctx.State.TypedFields) and
// with its inert images blanked (withoutInertImages), neither of which
// any injection fits; everything else whole.
func inspected(st *reqctx.State, contentType string, body []byte) []byte {
	if body == nil {
		return nil
	}
	body = withoutInertImages(contentType, body)
	if st.TypedFields == nil {
		return body
	}
	out, _, err := fieldpath.Rewrite(body, &fieldpath.Edits{Remove: st.TypedFields}, make([]byte, 0, len(body)))
	if err != nil {
		return body // validated JSON, so never; read it all if it were not
	}
	return out
}

// detected publishes a waf.detect event for rules matched in detect mode.
func (s *Stage) detected(r *http.Request, ids, detail string) {
	st := reqctx.From(r.Context())
	st.Events.Publish(observe.Event{Type: "waf.detect", Reason: "waf", Stage: "waf", Rule: ids, Detail: detail, Consumer: st.Consumer,
		ClientIP: st.ClientIP.String(), RequestID: st.RequestID, Route: st.Route, Method: r.Method, Path: st.Path})
}

// verdict runs the request phases holding a gate slot (the caller took
// it); ids names the matched rules when the request is blocked or
// detected.
func (s *Stage) verdict(tx types.Transaction, r *http.Request, body []byte) (blocked, detected bool, ids string) {
	defer s.Gate.leave()
	it := s.inspect(tx, r, body)
	matched := tx.MatchedRules()
	blocked, detected = it != nil, s.Detect && hasAttack(matched)
	if blocked || detected {
		ids = ruleIDs(matched)
	}
	return blocked, detected, ids
}

// inspect runs the request phases on the request and its body, already
// read (nil when it has none).
func (s *Stage) inspect(tx types.Transaction, r *http.Request, body []byte) *types.Interruption {
	st := reqctx.From(r.Context())
	client, cport := st.ClientIP.String(), 0
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		cport = int(ap.Port())
	}
	tx.ProcessConnection(client, cport, "", 0)
	s.setRouteVars(tx)
	// The rules see the target as the client sent it, before the path
	// was normalised: "../" and odd escapes are signals in themselves.
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	tx.ProcessURI(uri, r.Method, r.Proto)
	for k, vs := range r.Header {
		for _, v := range vs {
			tx.AddRequestHeader(k, v)
		}
	}
	// The connection's own fields, which the sanitizer removed, as the
	// client sent them (920171, 920210 read them).
	for _, f := range st.ClientHopByHop {
		for _, v := range f.Values {
			tx.AddRequestHeader(f.Name, v)
		}
	}
	if !st.HostMissing { // an HTTP/1.0 request without Host (920280), not an empty one (920290)
		tx.AddRequestHeader("Host", r.Host)
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return it
	}
	if body != nil && tx.IsRequestBodyAccessible() {
		it, _, err := tx.WriteRequestBody(body)
		if err != nil {
			panic(http.ErrAbortHandler) // the engine cannot hold the body: never pass it uninspected
		}
		if it != nil {
			return it
		}
	}
	it, err := tx.ProcessRequestBody()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	return it
}

// setRouteVars hands the route's methods and content types to the CRS.
func (s *Stage) setRouteVars(tx types.Transaction) {
	if s.Route == (RouteVars{}) {
		return
	}
	ts, ok := tx.(plugintypes.TransactionState)
	if !ok {
		return
	}
	vars := ts.Variables().TX()
	if s.Route.Methods != "" {
		vars.Set("allowed_methods", []string{s.Route.Methods})
	}
	if s.Route.ContentTypes != "" {
		vars.Set("allowed_request_content_type", []string{s.Route.ContentTypes})
	}
}

func (s *Stage) count(outcome string) {
	if s.Count != nil {
		s.Count(outcome)
	}
}

// attack reports a CRS attack rule: 910000-948999 on requests,
// 950000-958999 on responses (data leakage), and not one of the
// paranoia-level markers (NNN011-NNN018) every request passes; the 900s
// and 949/959/980 rules set up and evaluate scores.
func attack(id int) bool {
	return (id >= 910000 && id < 949000 || id >= 950000 && id < 959000) && id%1000 >= 100
}

// leak reports a CRS response (data-leakage) rule.
func leak(id int) bool { return id >= 950000 && id < 959000 && id%1000 >= 100 }

// attackMatch reports a match of an attack rule that says what it found:
// the CRS's flow-control rules in the same id ranges (920539 skips a rule
// for JSON bodies) match silently, with no message, and are no finding.
func attackMatch(r types.MatchedRule) bool { return attack(r.Rule().ID()) && r.Message() != "" }

func hasAttack(m []types.MatchedRule) bool { return slices.ContainsFunc(m, attackMatch) }

// ruleGroups names the CRS rule files by their number (the first three
// digits of a rule id).
var ruleGroups = map[string]string{"911": "method-enforcement", "913": "scanner-detection", "920": "protocol-enforcement",
	"921": "protocol-attack", "922": "multipart-attack", "930": "lfi", "931": "rfi", "932": "rce", "933": "php", "934": "generic",
	"941": "xss", "942": "sqli", "943": "session-fixation", "944": "java", "949": "anomaly-evaluation"}

// RuleGroup is the CRS group of a rule id: sqli, xss, rce ...; data-leakage
// for the response rules (950-959); custom for the operator's own.
func RuleGroup(id string) string {
	if len(id) == 6 {
		if g, ok := ruleGroups[id[:3]]; ok {
			return g
		}
		if id[:2] == "95" {
			return "data-leakage"
		}
	}
	return "custom"
}

// countGroups counts each group among ids (comma-separated) once.
func (s *Stage) countGroups(ids string) {
	if s.CountGroup == nil || ids == "" {
		return
	}
	seen := map[string]bool{}
	for id := range strings.SplitSeq(ids, ",") {
		if g := RuleGroup(id); !seen[g] && g != "anomaly-evaluation" {
			seen[g] = true
			s.CountGroup(g)
		}
	}
}

// ruleIDs lists the attack rules that matched, for the event.
func ruleIDs(m []types.MatchedRule) string {
	return idsOf(m, attackMatch)
}

// leakIDs lists the data-leakage rules that matched: those with a
// message, not the response files' flow-control rules (951100 ...).
func leakIDs(m []types.MatchedRule) string {
	return idsOf(m, func(r types.MatchedRule) bool { return leak(r.Rule().ID()) && r.Message() != "" })
}

// idsOf lists the ids of the matched rules that keep picks.
func idsOf(m []types.MatchedRule, keep func(types.MatchedRule) bool) string {
	var ids []string
	for _, r := range m {
		if keep(r) {
			ids = append(ids, strconv.Itoa(r.Rule().ID()))
		}
	}
	return strings.Join(ids, ",")
}
