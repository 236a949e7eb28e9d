package condition

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/route"
)

func newEnv(t testing.TB) *Env {
	t.Helper()
	e, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// accounts is a route table with one parameterised pattern.
var accounts = func() *route.Table {
	p, err := route.ParsePattern("/v1/accounts/{account}/orders")
	if err != nil {
		panic(err)
	}
	b := route.NewBuilder()
	b.Add(route.Rule{ID: 0, Patterns: []*route.Pattern{p}})
	return b.Build()
}()

// match looks path up in tab; no match leaves the parameters empty.
func match(tab *route.Table, path string) *route.Match {
	var m route.Match
	tab.Lookup("h", "GET", path, http.Header{}, &m)
	return &m
}

func input() *Input {
	r := httptest.NewRequest("GET", "http://api.example.com:8080/v1/accounts/acme/orders?status=open&status=closed", nil)
	r.Header.Set("X-Tenant", "acme")
	r.Header.Add("Accept", "application/json")
	r.Header.Add("Accept", "text/plain")
	return &Input{
		Request: r, Path: "/v1/accounts/acme/orders",
		Match:      match(accounts, "/v1/accounts/acme/orders"),
		ClientIP:   "192.0.2.7",
		Now:        time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		ConsumerID: "alice", Authenticator: "idp", Roles: []string{"orders.reader"}, Scopes: []string{"orders:read"},
		Attributes: map[string]string{"account": "acme", "tier": "gold"},
		Claims:     map[string]any{"groups": []any{"staff", "admins"}, "acr": "mfa", "n": float64(3)},
	}
}

func TestEval(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`request.params.account == consumer.attributes.account`, true}, // BOLA: own account only
		{`request.method == "GET" && request.path.startsWith("/v1/accounts/")`, true},
		{`request.host == "api.example.com"`, true},
		{`request.query.status == "open"`, true},
		{`request.headers["x-tenant"] == consumer.attributes.account`, true},
		{`request.headers.accept == "application/json, text/plain"`, true},
		{`request.ip.startsWith("192.0.2.")`, true},
		{`request.time.getHours() >= 8 && request.time.getHours() < 18`, true},
		{`"orders.reader" in consumer.roles && "orders:read" in consumer.scopes`, true},
		{`consumer.id == "alice" && consumer.authenticator == "idp"`, true},
		{`"admins" in claims.groups`, true},
		{`claims.acr == "mfa" && claims.n > 2`, true},
		{`has(claims.missing)`, false},
		{`has(request.params.other)`, false},
		{`tls.verified`, false},
		{`tls.subject == "" && size(tls.san_uris) == 0`, true},
		{`consumer.attributes.tier in ["gold", "platinum"]`, true},
	} {
		c, iss := e.Compile(tc.expr)
		if iss != nil {
			t.Fatalf("%s: %v", tc.expr, iss)
		}
		got, err := c.Eval(input())
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got != tc.want {
			t.Fatalf("%s = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

// TestEvalErrors: run-time errors are errors, for the caller to refuse.
func TestEvalErrors(t *testing.T) {
	e := newEnv(t)
	in := input()
	in.Attributes = nil // an anonymous or attribute-less consumer
	for _, expr := range []string{
		`request.params.account == consumer.attributes.account`, // no such key
		`claims.groups[5] == "x"`,                               // index out of range
		`claims.acr > 3`,                                        // string vs int at run time
	} {
		c, iss := e.Compile(expr)
		if iss != nil {
			t.Fatalf("%s: %v", expr, iss)
		}
		if ok, err := c.Eval(in); err == nil || ok {
			t.Fatalf("%s: %v %v, want an error", expr, ok, err)
		}
	}
}

func TestCompileIssues(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		expr      string
		line, col int
		msg       string
	}{
		{`request.parms.account == "x"`, 1, 14, "undeclared reference"},
		{`request.method == 1`, 1, 16, "no matching overload"},
		{"request.method == \"GET\" &&\n  consumer.idd == \"x\"", 2, 11, "undeclared reference"},
		{`request.path`, 1, 1, "must be a bool"},
		{`request.method == `, 1, 19, "Syntax error"},
		{``, 1, 1, "empty"},
		{`request.headers.all(k, request.headers.all(j, request.headers[k].matches(request.headers[j])))`, 1, 1, "could cost"},
		{strings.Repeat("(", 300) + "true" + strings.Repeat(")", 300), 1, 1, ""},
	} {
		_, iss := e.Compile(tc.expr)
		if len(iss) == 0 {
			t.Fatalf("%q compiled", tc.expr)
		}
		if iss[0].Line != tc.line || iss[0].Col != tc.col || !strings.Contains(iss[0].Msg, tc.msg) {
			t.Fatalf("%q: %d:%d %s, want %d:%d ...%s...", tc.expr, iss[0].Line, iss[0].Col, iss[0].Msg, tc.line, tc.col, tc.msg)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	e := newEnv(b)
	c, iss := e.Compile(`request.params.account == consumer.attributes.account && "orders.reader" in consumer.roles`)
	if iss != nil {
		b.Fatal(iss)
	}
	in := input()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := c.Eval(in); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// FuzzBindings feeds arbitrary request parts through every variable: an
// evaluation may fail, never panic.
func FuzzBindings(f *testing.F) {
	e := newEnv(f)
	var conds []*Condition
	for _, expr := range []string{
		`request.params.account == consumer.attributes.account`,
		`request.headers.exists(k, k.startsWith("x-") && request.headers[k].contains("a"))`,
		`request.query.exists(k, k == "status") && request.query.status == request.path`,
		`request.host.endsWith(".example.com") || request.method in ["GET", "HEAD"]`,
		`has(claims.groups) && "admins" in claims.groups`,
		`size(request.path) < 100 && request.ip != ""`,
	} {
		c, iss := e.Compile(expr)
		if iss != nil {
			f.Fatal(expr, iss)
		}
		conds = append(conds, c)
	}
	f.Add("GET", "/v1/accounts/acme", "status=open", "X-Tenant", "acme", "api.example.com")
	f.Add("POST", "/", "a=%zz&b", "x-A", "\x00\xff", "[::1]:80")
	f.Fuzz(func(t *testing.T, method, path, query, hname, hval, host string) {
		r := httptest.NewRequest("GET", "http://h/", nil)
		r.Method, r.Host, r.URL.RawQuery = method, host, query
		r.Header[hname] = []string{hval}
		in := &Input{Request: r, Path: path, ClientIP: hval,
			Match:      match(accounts, "/v1/accounts/"+hval+"/orders"),
			Attributes: map[string]string{"account": query}, Claims: map[string]any{"groups": []any{hval}}}
		for _, c := range conds {
			_, _ = c.Eval(in)
		}
	})
}

// TestRuntimeCostLimit: where inputs exceed the estimate's assumptions,
// a loop is cut off at MaxCost instead of running on.
func TestRuntimeCostLimit(t *testing.T) {
	e := newEnv(t)
	c, iss := e.Compile(`request.headers.exists(k, k == "never")`)
	if iss != nil {
		t.Fatal(iss)
	}
	in := input()
	for i := range 100_000 {
		in.Request.Header[fmt.Sprintf("X-H%d", i)] = []string{"v"}
	}
	if ok, err := c.Eval(in); err == nil || ok {
		t.Fatalf("a loop over 100,000 headers ran to the end: %v %v", ok, err)
	}
}
