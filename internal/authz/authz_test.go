package authz

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/registry"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/route"
)

const testConfig = `version: 1
authenticators:
  idp: {type: jwt, issuer: "https://idp.test", jwks_uri: "https://idp.test/jwks", audiences: [api]}
roles:
  reader: {allow: [{methods: [GET], paths: ["/v1/accounts/{account}/orders/**"]}]}
  writer: {allow: [{methods: [POST, DELETE], paths: ["/v1/accounts/{account}/orders/**"]}, {paths: ["/v1/drafts/**"]}]}
upstreams:
  u: {targets: [{url: "http://127.0.0.1:1"}]}
policies:
  rbac: {authenticate: [idp], authorize: {roles: [reader, writer]}}
  scoped: {authenticate: [idp], authorize: {scopes: [orders:read, orders:write]}}
  bola: {authenticate: [idp], authorize: {when: "request.params.account == consumer.attributes.account"}}
  all: {authenticate: [idp], authorize: {any_authenticated: true}}
  stepup: {authenticate: [idp], authorize: {require_acr: [mfa, hwk], max_auth_age: 10m}}
routes:
  - {name: r, match: {paths: ["/v1/accounts/{account}/orders/**", "/v1/drafts/**"]}, upstream: u, policy: rbac}
`

func compile(t testing.TB) (map[string]*Policy, *route.Table) {
	t.Helper()
	cfg, err := config.ParseWith("test.yaml", []byte(testConfig), func(string) (string, bool) { return "", false }, registry.Builtin().LoadOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Policy{}
	for name, p := range cfg.Policies {
		pol, err := Compile(cfg, p.Authorize, nil)
		if err != nil {
			t.Fatal(err)
		}
		pol.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
		out[name] = pol
	}
	rules, errs := route.Rules(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b := route.NewBuilder()
	b.Add(rules[0])
	return out, b.Build()
}

func request(t testing.TB, tab *route.Table, method, path string, id *reqctx.Identity) (*http.Request, *reqctx.State) {
	r := httptest.NewRequest(method, "http://api.test"+path, nil)
	st := &reqctx.State{Identity: id}
	if tab.Lookup("api.test", method, path, r.Header, &st.Match) != route.Found {
		t.Fatalf("no route for %s %s", method, path)
	}
	return r, st
}

func TestDecide(t *testing.T) {
	pols, tab := compile(t)
	alice := &reqctx.Identity{Consumer: "alice", Roles: []string{"reader"}, Scopes: []string{"orders:read"}, Attributes: map[string]string{"account": "acme"}}
	bob := &reqctx.Identity{Consumer: "bob", Roles: []string{"writer"}, Scopes: []string{"orders:read", "orders:write"}, Attributes: map[string]string{"account": "globex"}}
	nobody := &reqctx.Identity{Consumer: "nobody"}
	fresh := &reqctx.Identity{Consumer: "carol", Claims: map[string]any{"acr": "mfa", "auth_time": float64(1_800_000_000 - 60)}}
	stale := &reqctx.Identity{Consumer: "carol", Claims: map[string]any{"acr": "mfa", "auth_time": float64(1_800_000_000 - 3600)}}
	weak := &reqctx.Identity{Consumer: "carol", Claims: map[string]any{"acr": "pwd", "auth_time": float64(1_800_000_000 - 60)}}
	future := &reqctx.Identity{Consumer: "carol", Claims: map[string]any{"acr": "mfa", "auth_time": float64(1_800_000_000 + 3600)}}
	skewed := &reqctx.Identity{Consumer: "carol", Claims: map[string]any{"acr": "mfa", "auth_time": float64(1_800_000_000 + 20)}}
	const path = "/v1/accounts/acme/orders/1"
	for _, tc := range []struct {
		policy string
		id     *reqctx.Identity
		method string
		path   string
		want   string
		status int
	}{
		{"rbac", alice, "GET", path, "allow roles:reader", 0},
		{"rbac", alice, "HEAD", path, "allow roles:reader", 0},
		{"rbac", alice, "POST", path, "deny roles:not_allowed", 403},
		{"rbac", bob, "POST", path, "allow roles:writer", 0},
		{"rbac", bob, "GET", path, "deny roles:not_allowed", 403},
		{"rbac", bob, "PUT", "/v1/drafts/9", "allow roles:writer", 0},
		{"rbac", nobody, "GET", path, "deny roles:none_held", 403},
		{"rbac", nil, "GET", path, "deny roles:none_held", 403},
		{"scoped", alice, "GET", path, "deny scopes:orders:write", 403},
		{"scoped", bob, "GET", path, "allow scopes", 0},
		{"scoped", nobody, "GET", path, "deny scopes:orders:read orders:write", 403},
		{"bola", alice, "GET", path, "allow when", 0},
		{"bola", bob, "GET", path, "deny when:false", 403},
		{"bola", nobody, "GET", path, "deny when:error", 403}, // no attributes: fail closed
		{"all", nobody, "DELETE", path, "allow any_authenticated", 0},
		{"all", nil, "GET", path, "deny any_authenticated", 403},
		{"stepup", fresh, "GET", path, "allow step_up", 0},
		{"stepup", stale, "GET", path, "deny step_up:max_age=600", 401},
		{"stepup", future, "GET", path, "deny step_up:max_age=600", 401},
		{"stepup", skewed, "GET", path, "allow step_up", 0}, // within the 30s clock skew
		{"stepup", weak, "GET", path, `deny step_up:acr_values="mfa hwk"`, 401},
		{"stepup", nobody, "GET", path, `deny step_up:acr_values="mfa hwk",max_age=600`, 401},
	} {
		who := "anonymous"
		if tc.id != nil {
			who = tc.id.Consumer
		}
		name := fmt.Sprintf("%s %s %s %s", tc.policy, who, tc.method, tc.path)
		r, st := request(t, tab, tc.method, tc.path, tc.id)
		d := pols[tc.policy].Decide(r, st)
		if d.String() != tc.want || !d.Allow && d.Type.Status != tc.status {
			t.Errorf("%s: %s (%d), want %s (%d)", name, d, d.Type.Status, tc.want, tc.status)
		}
		if !d.Allow && (d.Detail == "" || strings.Contains(d.Detail, "consumer.attributes")) {
			t.Errorf("%s: detail %q", name, d.Detail)
		}
	}
}

func TestExternal(t *testing.T) {
	var answer atomic.Value
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		a := answer.Load().(string)
		if a == "500" {
			http.Error(w, "boom", 500)
			return
		}
		_, _ = w.Write([]byte(a))
	}))
	defer srv.Close()
	_, tab := compile(t)
	alice := &reqctx.Identity{Consumer: "alice"}
	for _, tc := range []struct {
		answer   string
		failOpen bool
		want     string
		status   int
	}{
		{`{"allow": true, "headers": {"x-tier": "gold"}}`, false, "allow external", 0},
		{`{"allow": false, "reason": "not today"}`, false, "deny external:deny", 403},
		{`{"allow": "yes"}`, false, "deny external:unavailable", 503},
		{`{}`, false, "deny external:unavailable", 503},
		{`{"allow": true, "headers": {"X-Rampart-Consumer": "admin"}}`, false, "deny external:unavailable", 503},
		{`{"allow": true, "headers": {"Host": "evil"}}`, false, "deny external:unavailable", 503},
		{`{"allow": true, "headers": {"X-Ok": "a\r\nInjected: 1"}}`, false, "deny external:unavailable", 503},
		{`{"allow": true, "pad": "` + strings.Repeat("x", maxAnswer) + `"}`, false, "deny external:unavailable", 503},
		{"500", false, "deny external:unavailable", 503},
		{"500", true, "allow external:fail_open", 0},
	} {
		answer.Store(tc.answer)
		e := NewExternal(ExternalOptions{Name: "p", URL: srv.URL, Timeout: time.Second, FailOpen: tc.failOpen})
		r, st := request(t, tab, "GET", "/v1/drafts/1", alice)
		d := e.Decide(r, st)
		if d.String() != tc.want || !d.Allow && d.Type.Status != tc.status {
			t.Errorf("answer %.60s: %s (%d), want %s (%d)", tc.answer, d, d.Type.Status, tc.want, tc.status)
		}
		if d.Allow && !tc.failOpen && d.Upstream.Get("X-Tier") != "gold" {
			t.Errorf("answer %.60s: upstream headers %v", tc.answer, d.Upstream)
		}
	}

	// Cached decisions; a breaker that opens on repeated failures.
	answer.Store(`{"allow": true}`)
	e := NewExternal(ExternalOptions{Name: "p", URL: srv.URL, Timeout: time.Second, CacheTTL: time.Minute})
	calls.Store(0)
	for range 5 {
		r, st := request(t, tab, "GET", "/v1/drafts/1", alice)
		e.Decide(r, st)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls for 5 identical requests", calls.Load())
	}
	answer.Store("500")
	e = NewExternal(ExternalOptions{Name: "p", URL: srv.URL, Timeout: time.Second})
	calls.Store(0)
	for i := range 20 {
		r, st := request(t, tab, "GET", fmt.Sprintf("/v1/drafts/%d", i), alice)
		e.Decide(r, st)
	}
	if n := calls.Load(); n > 6 {
		t.Fatalf("%d calls to a failing service: the breaker did not open", n)
	}
}

func BenchmarkDecide(b *testing.B) {
	pols, tab := compile(b)
	alice := &reqctx.Identity{Consumer: "alice", Roles: []string{"reader"}, Scopes: []string{"orders:read"}, Attributes: map[string]string{"account": "acme"}}
	for _, name := range []string{"rbac", "bola"} {
		b.Run(name, func(b *testing.B) {
			r, st := request(b, tab, "GET", "/v1/accounts/acme/orders/1", alice)
			b.ReportAllocs()
			for b.Loop() {
				if d := pols[name].Decide(r, st); !d.Allow {
					b.Fatal(d)
				}
			}
		})
	}
}
