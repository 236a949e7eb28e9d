package waf

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// TestCRS runs the real Core Rule Set at paranoia 1: attacks are
// interrupted, a legitimate JSON API request is not, and an exclusion
// lets a known false positive through.
func TestCRS(t *testing.T) {
	w, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := &Stage{WAF: w}
	check := func(method, target, ct, body string) bool {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		r.Header.Set("User-Agent", "rampart-test/1.0")
		r.Header.Set("Accept", "application/json")
		st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}
		r = r.WithContext(reqctx.With(r.Context(), st))
		tx := w.NewTransaction()
		defer tx.Close()
		return s.inspect(tx, r, bodyOf(body)) != nil
	}
	for _, tc := range []struct {
		name, method, target, ct, body string
		blocked                        bool
	}{
		{"sqli in query", "GET", "/items?id=1%27%20OR%20%271%27%3D%271", "", "", true},
		{"xss in query", "GET", "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "", "", true},
		{"traversal in query", "GET", "/files?name=..%2F..%2F..%2Fetc%2Fpasswd", "", "", true},
		{"command injection", "GET", "/ping?host=127.0.0.1%3Bcat%20%2Fetc%2Fpasswd", "", "", true},
		{"sqli in JSON", "POST", "/orders", "application/json", `{"note": "1' UNION SELECT password FROM users--"}`, true},
		{"a legitimate JSON order", "POST", "/orders", "application/json",
			`{"sku": "SELECT-123", "email": "ada@example.com", "name": "O'Brien", "blob": "aGVsbG8gd29ybGQ=", "items": [{"qty": 2}]}`, false},
		{"a plain GET", "GET", "/orders?limit=10&sort=-created", "", "", false},
	} {
		if got := check(tc.method, tc.target, tc.ct, tc.body); got != tc.blocked {
			t.Errorf("%s: blocked %v, want %v", tc.name, got, tc.blocked)
		}
	}
	// An operator's rule (a virtual patch) runs after the CRS and blocks.
	patched, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20,
		Rules: `SecRule ARGS:legacy_cmd "@streq reboot" "id:1001,phase:2,deny,status:403,log,msg:'virtual patch'"`})
	if err != nil {
		t.Fatal(err)
	}
	ps := &Stage{WAF: patched}
	for q, want := range map[string]bool{"/admin?legacy_cmd=reboot": true, "/admin?legacy_cmd=status": false} {
		r := httptest.NewRequest("GET", q, nil)
		r = r.WithContext(reqctx.With(r.Context(), &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}))
		tx := patched.NewTransaction()
		it := ps.inspect(tx, r, nil)
		_ = tx.Close()
		if (it != nil) != want {
			t.Errorf("%s: interrupted %v, want %v", q, it != nil, want)
		}
	}
	if d := Directives(Options{Paranoia: 2, Threshold: 7, Exclusions: []Exclusion{{Rule: 942100}, {Rule: 941100, Target: "ARGS:json.note"}}}); !strings.Contains(d, "SecRuleRemoveById 942100") ||
		!strings.Contains(d, `SecRuleUpdateTargetById 941100 "!ARGS:json.note"`) || !strings.Contains(d, "blocking_paranoia_level=2") ||
		strings.Index(d, "SecRuleRemoveById") < strings.Index(d, "Include @owasp_crs") {
		t.Errorf("directives:\n%s", d)
	}
}

// benchOrder is a 1 KiB JSON order, the bench's waf scenario body.
var benchOrder = `{"coupon":"WINTER-2026","customer":{"email":"jane.doe@example.com","id":"c-8f14e45f","name":"Jane Doe"},` +
	`"lines":[{"name":"Widget, brushed steel","quantity":1,"sku":"WID-0037","unit_price":12.5},{"name":"Widget, brushed steel","quantity":2,"sku":"WID-0074","unit_price":25},` +
	`{"name":"Widget, brushed steel","quantity":3,"sku":"WID-0111","unit_price":37.5},{"name":"Widget, brushed steel","quantity":4,"sku":"WID-0148","unit_price":50},` +
	`{"name":"Widget, brushed steel","quantity":5,"sku":"WID-0185","unit_price":62.5},{"name":"Widget, brushed steel","quantity":6,"sku":"WID-0222","unit_price":75}],` +
	`"note":"Please leave the parcel with the neighbour at number 14 if nobody is home.` + strings.Repeat(" Thanks!", 50) + `",` +
	`"shipping":{"city":"Bristol","country":"GB","postcode":"BS1 5DB","street":"12 Harbour Road"}}`

// benchTicket is a 1 KiB JSON body of four fields, one of them long
// prose: the WAF's cost follows the number of fields more than the bytes.
var benchTicket = `{"title":"Invoice 2026-114 shows the wrong VAT rate","priority":"normal","tags":["billing","invoice"],"body":"` +
	strings.Repeat("The invoice we received for November lists VAT at twenty percent, but our account is registered for the reduced rate. ", 8) + `"}`

// BenchmarkInspect is the WAF stage's work on one request at paranoia 1:
// a GET with a query, the bench's 1 KiB JSON order (33 fields), the same
// order when an OpenAPI description has proven 19 of its fields typed
// (quantities, prices, a trusted sku pattern, a country enum: the body is
// rewritten without them first, which is counted), and a 1 KiB JSON body
// of four fields.
func BenchmarkInspect(b *testing.B) {
	w, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	s := &Stage{WAF: w}
	typed, err := fieldpath.Compile([]string{"lines[*].quantity", "lines[*].unit_price", "lines[*].sku", "shipping.country"})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, target, ct, body string
		typed                          *fieldpath.Set
	}{
		{"GET", "GET", "/api/v1/items?page=2&sort=name&q=widget", "", "", nil},
		{"POST 1KiB JSON", "POST", "/items", "application/json", benchOrder, nil},
		{"POST 1KiB JSON schema-typed", "POST", "/items", "application/json", benchOrder, typed},
		{"POST 1KiB JSON 4 fields", "POST", "/tickets", "application/json", benchTicket, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
				if tc.ct != "" {
					r.Header.Set("Content-Type", tc.ct)
				}
				r.Header.Set("User-Agent", "rampart-bench/1")
				r.Header.Set("Accept", "application/json")
				st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), TypedFields: tc.typed}
				r = r.WithContext(reqctx.With(r.Context(), st))
				tx := w.NewTransaction()
				if it := s.inspect(tx, r, inspected(st, r.Header.Get("Content-Type"), bodyOf(tc.body))); it != nil {
					b.Fatal("blocked")
				}
				_ = tx.Close()
			}
		})
	}
}

// TestLogPhase: the logging phase runs only for an operator's phase-5 rules.
func TestLogPhase(t *testing.T) {
	for rules, want := range map[string]bool{
		"": false,
		`SecRule ARGS:a "@streq b" "id:1,phase:2,deny"`:                   false,
		`SecRule RESPONSE_STATUS "@streq 500" "id:2,phase:5,pass,log"`:    true,
		`SecAction "id:3,phase:logging,pass,log"`:                         true,
		`SecRule ARGS:a "@streq b" "id:4,phase: '5',pass,log,msg:'late'"`: true,
	} {
		if got := (Options{Rules: rules}).LogPhase(); got != want {
			t.Errorf("%q: LogPhase %v, want %v", rules, got, want)
		}
		if got := (Options{RulesBefore: rules}).LogPhase(); got != want {
			t.Errorf("%q before the CRS: LogPhase %v, want %v", rules, got, want)
		}
	}
	// With a log, the logging phase runs: its correlation rule (980170)
	// writes a line.
	if !(Options{Log: io.Discard}).LogPhase() {
		t.Error("no logging phase with a log")
	}
}

// syncBuffer is a log the test reads while the stage writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestStageFidelity drives the stage as the gateway does, in detect mode
// with a log: the lines of a transaction are in the log before the
// upstream is called (so before the client has its response), the
// logging phase's correlation line with them; the connection's own
// fields the sanitizer removed reach the rules; an HTTP/1.0 request
// without Host reads as missing, not empty; and a route's methods and
// content types are the CRS's, unless rules before the CRS say otherwise.
func TestStageFidelity(t *testing.T) {
	run := func(o Options, v RouteVars, r *http.Request, st *reqctx.State) string {
		t.Helper()
		log := &syncBuffer{}
		o.Paranoia, o.Threshold, o.BodyLimit, o.Detect, o.Log = 1, 5, 1<<20, true, log
		w, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		s := (&Stage{WAF: w, Detect: true, Log: log, LogPhase: o.LogPhase()}).ForRoute(v)
		var before string
		h := s.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { before = log.String() }))
		st.ClientIP, st.Events = netip.MustParseAddr("192.0.2.1"), observe.NewBus(nil, nil, nil)
		r.Header.Set("User-Agent", "rampart-test/1.0")
		r.Header.Set("Accept", "*/*")
		h.ServeHTTP(httptest.NewRecorder(), r.WithContext(reqctx.With(r.Context(), st)))
		if after := log.String(); after != before {
			t.Errorf("log lines written after the upstream was called:\n%s", strings.TrimPrefix(after, before))
		}
		return before
	}
	has := func(log string, id int) bool { return strings.Contains(log, fmt.Sprintf(`[id "%d"]`, id)) }

	attack := run(Options{}, RouteVars{}, httptest.NewRequest("GET", "/items?q=1%27%20OR%20%271%27%3D%271", nil), &reqctx.State{})
	if !has(attack, 942100) || !has(attack, 980170) {
		t.Errorf("an attack's log lacks the rule or the correlation line:\n%s", attack)
	}

	hop := &reqctx.State{}
	hop.AddClientHopByHop("Connection", []string{"keep-alive, close"})
	if log := run(Options{}, RouteVars{}, httptest.NewRequest("GET", "/", nil), hop); !has(log, 920210) {
		t.Errorf("conflicting Connection values not seen (920210):\n%s", log)
	}

	for _, tc := range []struct {
		missing bool
		id      int
	}{{true, 920280}, {false, 920290}} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Proto, r.ProtoMinor, r.Host = "HTTP/1.0", 0, ""
		if log := run(Options{}, RouteVars{}, r, &reqctx.State{HostMissing: tc.missing}); !has(log, tc.id) || has(log, 920280+920290-tc.id) {
			t.Errorf("Host missing %v: want %d alone:\n%s", tc.missing, tc.id, log)
		}
	}

	put := func() *http.Request {
		r := httptest.NewRequest("PUT", "/orders/7", strings.NewReader(`{"status":"shipped"}`))
		r.Header.Set("Content-Type", "application/merge-patch+json")
		return r
	}
	api := RouteVars{Methods: "GET HEAD PUT", ContentTypes: "|application/json| |application/merge-patch+json|"}
	if log := run(Options{}, RouteVars{}, put(), &reqctx.State{}); !has(log, 911100) || !has(log, 920420) {
		t.Errorf("the CRS's defaults flag PUT and merge-patch:\n%s", log)
	}
	if log := run(Options{}, api, put(), &reqctx.State{}); has(log, 911100) || has(log, 920420) {
		t.Errorf("the route's methods and content types were not the CRS's:\n%s", log)
	}
	before := Options{RulesBefore: `SecAction "id:1002,phase:1,pass,nolog,setvar:'tx.allowed_methods=GET HEAD'"`}
	if log := run(before, api, put(), &reqctx.State{}); !has(log, 911100) {
		t.Errorf("rules before the CRS did not narrow the methods:\n%s", log)
	}
}

// bodyOf is a request body as the stage hands it to inspect: nil for none.
func bodyOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// TestGate: no more inspections at once than the gate has slots, served
// in turn; a request cancelled while waiting takes no slot.
func TestGate(t *testing.T) {
	g := NewGate(2)
	never := make(chan struct{})
	for i := range 2 {
		if !g.enter(never) {
			t.Fatalf("entry %d of two refused", i+1)
		}
	}
	cancelled := make(chan struct{})
	close(cancelled)
	if g.enter(cancelled) {
		t.Fatal("a third entry while two are inside")
	}
	entered := make(chan struct{})
	go func() {
		g.enter(never)
		close(entered)
	}()
	select {
	case <-entered:
		t.Fatal("entered a full gate")
	case <-time.After(20 * time.Millisecond):
	}
	g.leave()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("a slot left, and the waiter did not enter")
	}
	g.leave()
	g.leave()
	if len(g) != 0 {
		t.Errorf("%d slots still taken", len(g))
	}
	var none Gate // nil: no bound
	if !none.enter(cancelled) {
		t.Error("a nil gate refused")
	}
	none.leave()
}

// TestStageGate: the stage takes a slot only for the inspection, gives it
// back whether the request passes or is blocked, and never while a
// client is still sending its body.
func TestStageGate(t *testing.T) {
	w, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	g := NewGate(1)
	s := &Stage{WAF: w, Gate: g}
	h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(g) != 0 {
			t.Error("the slot is held while the upstream answers")
		}
	}))
	for _, target := range []string{"/items?q=widget", "/items?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"} {
		r := httptest.NewRequest("GET", target, nil)
		r = r.WithContext(reqctx.With(r.Context(), &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), Events: observe.NewBus(nil, nil, nil)}))
		h.ServeHTTP(httptest.NewRecorder(), r)
		if len(g) != 0 {
			t.Errorf("%s: the slot was not given back", target)
		}
	}
	// A body still arriving holds no slot: the gate is full, and the
	// stage is waiting on the body, not on the gate.
	g <- struct{}{}
	pr, pw := io.Pipe()
	r := httptest.NewRequest("POST", "/items", pr)
	r.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithCancel(r.Context())
	r = r.WithContext(reqctx.With(ctx, &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), MaxBodyBytes: 1 << 20}))
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(httptest.NewRecorder(), r)
		close(done)
	}()
	_, _ = pw.Write([]byte(`{"a":1}`)) // read while the gate is full
	_ = pw.Close()
	select {
	case <-done:
		t.Fatal("inspected with no slot free")
	case <-time.After(50 * time.Millisecond): // the body is read; waiting for a slot
	}
	cancel() // the client gives up
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled request kept waiting for a slot")
	}
	<-g
}

func TestRuleGroup(t *testing.T) {
	for id, want := range map[string]string{"942100": "sqli", "941110": "xss", "932160": "rce", "930120": "lfi", "920350": "protocol-enforcement",
		"951220": "data-leakage", "959100": "data-leakage", "1001": "custom", "100001": "custom"} {
		if got := RuleGroup(id); got != want {
			t.Errorf("RuleGroup(%s) = %s, want %s", id, got, want)
		}
	}
}

// TestTypedFieldsNotRead: the fields schema validation proved typed are
// left out of the body the rules read; every other field is read.
func TestTypedFieldsNotRead(t *testing.T) {
	w, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := &Stage{WAF: w}
	typed, err := fieldpath.Compile([]string{"status", "lines[*].qty"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		body    string
		blocked bool
	}{
		// Values no schema would pass as typed; here they stand for what
		// the rules would flag if they read the field.
		{`{"status":"1' OR '1'='1","lines":[{"qty":"<script>alert(1)</script>","name":"Widget"}]}`, false},
		{`{"status":"open","lines":[{"qty":2,"name":"<script>alert(1)</script>"}]}`, true},
		{`{"status":"open","note":"1' UNION SELECT password FROM users--"}`, true},
	} {
		r := httptest.NewRequest("POST", "/orders", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", "application/json")
		st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), TypedFields: typed}
		r = r.WithContext(reqctx.With(r.Context(), st))
		tx := w.NewTransaction()
		if got := s.inspect(tx, r, inspected(st, r.Header.Get("Content-Type"), []byte(tc.body))) != nil; got != tc.blocked {
			t.Errorf("%s: blocked %v, want %v", tc.body, got, tc.blocked)
		}
		_ = tx.Close()
	}
}

// TestDetectBenignJSON: in detect mode a benign JSON body is "passed",
// not "detected": the CRS's silent flow-control match for JSON bodies
// (920539) is no finding.
func TestDetectBenignJSON(t *testing.T) {
	w, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20, Detect: true})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	s := &Stage{WAF: w, Detect: true, Count: func(o string) { outcomes = append(outcomes, o) }}
	h := s.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	body := `{"sku":"WID-0037","qty":2}`
	r := httptest.NewRequest("POST", "/orders", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Length", fmt.Sprint(len(body))) // as net/http's server keeps it
	r.Header.Set("User-Agent", "rampart-test/1.0")
	r.Header.Set("Accept", "application/json")
	st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), MaxBodyBytes: 1 << 20, Events: observe.NewBus(nil, nil, nil)}
	h.ServeHTTP(httptest.NewRecorder(), r.WithContext(reqctx.With(r.Context(), st)))
	if len(outcomes) != 1 || outcomes[0] != "passed" {
		t.Errorf("outcomes %v, want [passed]", outcomes)
	}
}

// TestRxPrefilterMisses: the CRS regression tests that Coraza's literal
// prefilter for @rx (SecRxPreFilter On) made the rules miss: a number
// that sends PHP's strtod into a loop (942220) and an IMAP command
// injected after a CRLF (932311, paranoia 3). With either regex engine,
// the rules must see them.
func TestRxPrefilterMisses(t *testing.T) {
	w, err := New(Options{Paranoia: 3, Threshold: 5, BodyLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := &Stage{WAF: w}
	for _, tc := range []struct {
		rule                     int
		method, target, ct, body string
	}{
		{942220, "GET", "/get?i=2.2250738585072011e-308", "", ""},
		{932311, "POST", "/post", "application/x-www-form-urlencoded", "textarea=%0d%0ad%20store%202%20%2BFLAGS%20%28%5CDeleted%29\n"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		if tc.ct != "" {
			r.Header.Set("Content-Type", tc.ct)
			r.Header.Set("Content-Length", fmt.Sprint(len(tc.body)))
		}
		r.Header.Set("User-Agent", "rampart-test/1.0")
		r.Header.Set("Accept", "*/*")
		r = r.WithContext(reqctx.With(r.Context(), &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}))
		tx := w.NewTransaction()
		_ = s.inspect(tx, r, bodyOf(tc.body))
		if !slices.ContainsFunc(tx.MatchedRules(), func(m types.MatchedRule) bool { return m.Rule().ID() == tc.rule }) {
			t.Errorf("%d did not match %s %s %q", tc.rule, tc.method, tc.target, tc.body)
		}
		_ = tx.Close()
	}
}
