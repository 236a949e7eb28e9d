package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// accessConfig is examples/access-control.yaml, pointed at the test's
// provider, upstream and authorization service: the documented example
// is the one tested.
func accessConfig(t *testing.T, issuer, upstream, authzURL string) string {
	t.Helper()
	data, err := os.ReadFile("../../examples/access-control.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(
		`"https://login.example.com"`, strconv.Quote(issuer),
		"http://127.0.0.1:9001", upstream,
		"https://authz.internal.example.com/check", authzURL,
		"127.0.0.1:8080", "127.0.0.1:0",
		"127.0.0.1:9901", "127.0.0.1:0",
	).Replace(string(data))
}

// TestAccessControl drives roles, scopes, a BOLA condition and step-up
// through the running gateway with real tokens, as a matrix of
// consumers x routes x methods.
func TestAccessControl(t *testing.T) {
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	g := startGateway(t, accessConfig(t, ip.issuer, up.url(), "http://127.0.0.1:1/unused"))
	tokens := map[string]string{}
	token := func(sub, scope string) string {
		k := sub + "|" + scope
		if tokens[k] == "" {
			tokens[k] = ip.token(t, map[string]string{"sub": sub, "aud": "orders", "scope": scope})
		}
		return tokens[k]
	}
	for _, tc := range []struct {
		who, scope, method, path string
		status                   int
		detail, authz            string
	}{
		{"alice", "orders", "GET", "/v1/accounts/acme/orders", 200, "", "allow when"},
		{"alice", "orders", "GET", "/v1/accounts/acme/orders/7", 200, "", "allow when"},
		{"alice", "orders", "HEAD", "/v1/accounts/acme/orders/7", 200, "", "allow when"},
		{"alice", "orders", "GET", "/v1/accounts/globex/orders", 403, "condition", "deny when:false"},
		{"alice", "orders", "POST", "/v1/accounts/acme/orders/7", 403, "do not allow POST", "deny roles:not_allowed"},
		{"alice", "profile", "GET", "/v1/accounts/acme/orders", 403, "scope `orders`", "deny scopes:orders"},
		{"bob", "orders", "POST", "/v1/accounts/globex/orders/1", 200, "", "allow when"},
		{"bob", "orders", "DELETE", "/v1/accounts/acme/orders/1", 403, "condition", "deny when:false"},
		{"carol", "orders", "GET", "/v1/accounts/acme/orders", 403, "`orders.reader`, `orders.writer`", "deny roles:none_held"},
		{"dave", "orders", "GET", "/v1/accounts/acme/orders", 403, "roles", "deny roles:none_held"},
	} {
		name := fmt.Sprintf("%s %s %s", tc.who, tc.method, tc.path)
		r := do(t, client, tc.method, g.url(tc.path), nil, bearer(token(tc.who, tc.scope)))
		if r.status != tc.status {
			t.Fatalf("%s: %d, want %d: %s", name, r.status, tc.status, r.body)
		}
		if tc.status == 403 {
			p := problemOf(t, r, 403)
			if p["type"] != "tag:rampart-gw.github.io,2026:problems/forbidden" || !strings.Contains(p["detail"].(string), tc.detail) {
				t.Fatalf("%s: problem %v", name, p)
			}
			// Never the rule's text, never another consumer's data.
			for _, secret := range []string{"consumer.attributes", "globex", "acme"} {
				if strings.Contains(p["detail"].(string), secret) {
					t.Fatalf("%s: detail reveals %q: %s", name, secret, p["detail"])
				}
			}
		}
		rid := r.header.Get("X-Request-Id")
		waitFor(t, 5*time.Second, name+": access log", func() bool {
			for _, l := range g.accessLog(t) {
				if l["request_id"] == rid {
					if l["authz"] != tc.authz {
						t.Fatalf("%s: authz %v, want %q", name, l["authz"], tc.authz)
					}
					return true
				}
			}
			return false
		})
	}

	// Step-up (RFC 9470): the admin route wants acr mfa within 5 minutes.
	now := time.Now().Unix()
	stepUp := func(acr string, authTime int64) response {
		extra, _ := json.Marshal(map[string]any{"acr": acr, "auth_time": authTime})
		return do(t, client, "GET", g.url("/admin/users"), nil,
			bearer(ip.token(t, map[string]string{"sub": "dave", "aud": "orders", "extra": string(extra)})))
	}
	if r := stepUp("mfa", now-60); r.status != 200 {
		t.Fatalf("step-up satisfied: %d %s", r.status, r.body)
	}
	for name, r := range map[string]response{"weak acr": stepUp("pwd", now-60), "old auth_time": stepUp("mfa", now-3600),
		"auth_time an hour ahead": stepUp("mfa", now+3600)} {
		p := problemOf(t, r, 401)
		ch := r.header.Get("WWW-Authenticate")
		if p["type"] != "tag:rampart-gw.github.io,2026:problems/insufficient-authentication" ||
			!strings.Contains(ch, `error="insufficient_user_authentication"`) {
			t.Fatalf("%s: %v %q", name, p, ch)
		}
		if name == "weak acr" && !strings.Contains(ch, `acr_values="mfa"`) || name != "weak acr" && !strings.Contains(ch, "max_age=300") {
			t.Fatalf("%s: challenge %q", name, ch)
		}
	}

	// Every denial is a security event carrying the decision.
	waitFor(t, 5*time.Second, "authorize events", func() bool {
		n := 0
		for _, ev := range g.events() {
			if ev["stage"] == "authorize" && ev["authz"] != nil && ev["rule"] != nil {
				n++
			}
		}
		return n >= 8
	})
	g.metricsHave(t, `rampart_authz_total{check="when",decision="allow",policy="orders"} 4`,
		`rampart_authz_total{check="roles",decision="deny",policy="orders"} 3`,
		`rampart_authz_total{check="step_up",decision="deny",policy="admin"} 3`) // weak acr, old and future auth_time
}

// TestAccessExternal: an external authorization service decides, adds
// headers for the upstream, is cached, and when it is gone the gateway
// fails closed with a 503.
func TestAccessExternal(t *testing.T) {
	var calls atomic.Int32
	authz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req struct {
			Method   string
			Path     string
			Headers  map[string]string
			Consumer struct{ ID string }
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		if req.Headers["X-Tenant"] == "acme" && req.Consumer.ID == "alice" {
			_, _ = w.Write([]byte(`{"allow": true, "headers": {"X-Partner-Tier": "gold"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"allow": false, "reason": "tenant not linked to this consumer"}`))
	}))
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	g := startGateway(t, accessConfig(t, ip.issuer, up.url(), authz.URL+"/check"))
	tok := bearer(ip.token(t, map[string]string{"sub": "alice", "aud": "orders"}))
	call := func(tenant string) response {
		h := map[string]string{"X-Tenant": tenant, "Authorization": tok["Authorization"]}
		return do(t, client, "GET", g.url("/partner/reports"), nil, h)
	}
	r := call("acme")
	if r.status != 200 {
		t.Fatalf("allowed by the service: %d %s", r.status, r.body)
	}
	if e := echoOf(t, r); e.Headers["X-Partner-Tier"] != "gold" {
		t.Fatalf("the service's header did not reach the upstream: %v", e.Headers)
	}
	for range 3 {
		call("acme")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls to the service for 4 identical requests within cache_ttl", n)
	}
	r = call("globex")
	p := problemOf(t, r, 403)
	if !strings.Contains(p["detail"].(string), "tenant not linked") {
		t.Fatalf("denial: %v", p)
	}

	// The service gone: fail closed.
	authz.Close()
	r = call("initech")
	p = problemOf(t, r, 503)
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/authorization-unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("service down: %v", p)
	}
}

// TestAccessStoreConsumers: roles and attributes of consumers kept in the
// store, set with `rampart consumers` and the admin API, decide access,
// and a change reaches the gateway within store.sync_interval.
func TestAccessStoreConsumers(t *testing.T) {
	up := startUpstream(t, "orders")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
store: {driver: embedded, path: data/rampart.db, sync_interval: 200ms}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
roles:
  reader: {allow: [{methods: [GET], paths: ["/v1/accounts/{account}/**"]}]}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  api:
    authenticate: [keys]
    authorize: {roles: [reader], when: "request.params.account == consumer.attributes.account"}
routes:
  - {name: accounts, match: {paths: ["/v1/accounts/{account}/**"]}, upstream: echo, policy: api}
`, up.url()))
	cli := g.cli
	// An unknown role is refused with a suggestion, not stored.
	if code, _, errs := cli("consumers", "put", "--id", "acme", "--roles", "raeder"); code != 2 || !strings.Contains(errs, `did you mean "reader"`) {
		t.Fatalf("unknown role: exit %d %s", code, errs)
	}
	if code, out, errs := cli("consumers", "put", "--id", "acme", "--roles", "reader", "--attr", "account=acme"); code != 0 {
		t.Fatalf("consumers put: %d %s %s", code, out, errs)
	}
	_, key, _ := cli("keys", "create", "--consumer", "acme")
	call := func(path string) int {
		return do(t, client, "GET", g.url(path), nil, map[string]string{"X-API-Key": key}).status
	}
	waitFor(t, 5*time.Second, "store consumer allowed", func() bool { return call("/v1/accounts/acme/orders") == 200 })
	if s := call("/v1/accounts/globex/orders"); s != 403 {
		t.Fatalf("another account: %d", s)
	}
	if _, out, _ := cli("consumers", "list"); !strings.Contains(out, "acme") || !strings.Contains(out, "account=acme") {
		t.Fatalf("consumers list:\n%s", out)
	}

	// The admin API takes the role away; the next sync refuses.
	req, _ := http.NewRequest("PUT", "http://"+g.admin+"/consumers/acme", strings.NewReader(`{"attributes": {"account": "acme"}}`))
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("PUT /consumers/acme: %v %v", err, res)
	}
	res.Body.Close()
	changed := time.Now()
	waitFor(t, 5*time.Second, "role removal applied", func() bool { return call("/v1/accounts/acme/orders") == 403 })
	if d := time.Since(changed); d > 2*time.Second {
		t.Fatalf("role removal took %v with sync_interval 200ms", d)
	}
	res, err = http.Get("http://" + g.admin + "/consumers/acme")
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Roles []string }
	_ = json.NewDecoder(res.Body).Decode(&c)
	res.Body.Close()
	if len(c.Roles) != 0 {
		t.Fatalf("GET /consumers/acme: roles %v", c.Roles)
	}
}
