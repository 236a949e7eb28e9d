package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRateLimits drives limits through the running gateway: one budget
// per consumer across a policy's routes, a budget per route when scoped
// so, shadow mode, and a per-IP limit that runs before authentication.
func TestRateLimits(t *testing.T) {
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
authenticators:
  idp: {type: oidc, issuer: %q, audiences: [orders], algorithms: [ES256]}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  shared:
    authenticate: [idp]
    authorize: {any_authenticated: true}
    rate_limits: [{key: consumer, rate: 5/m, burst: 5, name: per-consumer}]
  scoped:
    authenticate: [idp]
    authorize: {any_authenticated: true}
    rate_limits: [{key: consumer, rate: 2/m, burst: 2, scope: route, name: per-route}]
  trial:
    authenticate: [idp]
    authorize: {any_authenticated: true}
    rate_limits: [{key: consumer, rate: 1/m, mode: shadow, name: trial}]
  guarded:
    authenticate: [idp]
    authorize: {any_authenticated: true}
    rate_limits: [{key: ip, rate: 3/m, burst: 3, name: login-ip}]
  bursty:
    authenticate: [idp]
    authorize: {any_authenticated: true}
    rate_limits: [{key: consumer, rate: 5/s, burst: 10, name: bursty}]
routes:
  - {name: orders, match: {paths: ["/orders/**"]}, upstream: echo, policy: shared}
  - {name: invoices, match: {paths: ["/invoices/**"]}, upstream: echo, policy: shared}
  - {name: a, match: {paths: ["/a/**"]}, upstream: echo, policy: scoped}
  - {name: b, match: {paths: ["/b/**"]}, upstream: echo, policy: scoped}
  - {name: trial, match: {paths: ["/trial/**"]}, upstream: echo, policy: trial}
  - {name: guarded, match: {paths: ["/guarded/**"]}, upstream: echo, policy: guarded}
  - {name: bursty, match: {paths: ["/bursty/**"]}, upstream: echo, policy: bursty}
`, ip.issuer, up.url()))
	alice := bearer(ip.token(t, map[string]string{"sub": "alice", "aud": "orders"}))
	bob := bearer(ip.token(t, map[string]string{"sub": "bob", "aud": "orders"}))
	call := func(path string, h map[string]string) response { return do(t, client, "GET", g.url(path), nil, h) }

	// One budget across the policy's routes: 3 + 2 = 5, then 429 on either.
	for i, path := range []string{"/orders/1", "/orders/2", "/orders/3", "/invoices/1", "/invoices/2"} {
		r := call(path, alice)
		if r.status != 200 {
			t.Fatalf("request %d (%s): %d", i, path, r.status)
		}
		if want := fmt.Sprintf(`"per-consumer";r=%d;`, 4-i); !strings.HasPrefix(r.header.Get("RateLimit"), want) ||
			r.header.Get("RateLimit-Policy") != `"per-consumer";q=5;w=60` {
			t.Fatalf("request %d: RateLimit %q, RateLimit-Policy %q", i, r.header.Get("RateLimit"), r.header.Get("RateLimit-Policy"))
		}
	}
	// A burst above the rate: the policy states the bucket (10 per 2s),
	// so the remaining count never exceeds the quota stated beside it.
	if r := call("/bursty/1", alice); r.header.Get("RateLimit-Policy") != `"bursty";q=10;w=2` || !strings.HasPrefix(r.header.Get("RateLimit"), `"bursty";r=9;`) {
		t.Fatalf("burst 10 at 5/s: RateLimit %q, RateLimit-Policy %q", r.header.Get("RateLimit"), r.header.Get("RateLimit-Policy"))
	}
	r := call("/invoices/3", alice)
	p := problemOf(t, r, 429)
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/rate-limited" || r.header.Get("Retry-After") == "" ||
		!strings.HasPrefix(r.header.Get("RateLimit"), `"per-consumer";r=0;`) || !strings.Contains(p["detail"].(string), "per-consumer") {
		t.Fatalf("over the limit: %v %v", p, r.header)
	}
	if r := call("/orders/4", alice); r.status != 429 {
		t.Fatalf("the other route of the policy: %d", r.status)
	}
	if r := call("/orders/1", bob); r.status != 200 {
		t.Fatalf("another consumer: %d", r.status)
	}

	// scope: route: a budget per route.
	for _, path := range []string{"/a/1", "/a/2", "/b/1", "/b/2"} {
		if r := call(path, alice); r.status != 200 {
			t.Fatalf("%s: %d", path, r.status)
		}
	}
	if r := call("/a/3", alice); r.status != 429 {
		t.Fatalf("route-scoped limit exhausted on a: %d", r.status)
	}

	// shadow: refuses nothing, reports what it would have refused.
	for i := range 3 {
		if r := call("/trial/x", alice); r.status != 200 {
			t.Fatalf("shadow limit, request %d: %d", i, r.status)
		}
	}
	waitFor(t, 5*time.Second, "shadow events", func() bool {
		n := 0
		for _, ev := range g.events() {
			if ev["type"] == "ratelimit.shadow" && ev["rule"] == "trial" {
				n++
			}
		}
		return n == 2
	})

	// ip before authentication: bad credentials are counted too, so
	// guessing tokens hits the limit.
	bad := bearer("not-a-token")
	for i := range 3 {
		if r := call("/guarded/x", bad); r.status != 401 {
			t.Fatalf("bad token %d: %d", i, r.status)
		}
	}
	if r := call("/guarded/x", bad); r.status != 429 {
		t.Fatalf("fourth try from the address: %d", r.status)
	}
	if r := call("/guarded/x", alice); r.status != 429 {
		t.Fatalf("a valid token from the same address is limited too: %d", r.status)
	}
	g.metricsHave(t, `rampart_ratelimit_total{limit="per-consumer",outcome="refused",policy="shared"} 2`,
		`rampart_ratelimit_total{limit="trial",outcome="shadow_refused",policy="trial"} 2`)
}

// TestConcurrencyCap: a cap of 2 in flight per client with a queue of
// 1: of 4 slow requests at once, 2 run, 1 waits for a slot, 1 is refused
// at once with a 503 problem.
func TestConcurrencyCap(t *testing.T) {
	up := startUpstream(t, "orders")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  capped:
    authenticate: []
    concurrency: {limit: 2, queue: 1, queue_timeout: 2s}
routes:
  - {name: slow, match: {paths: ["/**"]}, upstream: echo, policy: capped}
`, up.url()))
	results := make(chan response, 4)
	for range 4 {
		go func() { results <- do(t, client, "GET", g.url("/delay/600"), nil, nil) }()
	}
	counts := map[int]int{}
	for range 4 {
		r := <-results
		counts[r.status]++
		if r.status == 503 {
			if p := problemOf(t, r, 503); p["type"] != "tag:rampart-gw.github.io,2026:problems/concurrency-limited" || r.header.Get("Retry-After") == "" {
				t.Fatalf("refusal: %v", p)
			}
		}
	}
	if counts[200] != 3 || counts[503] != 1 {
		t.Fatalf("statuses %v, want three 200 (two at once, one after waiting) and one 503", counts)
	}
}
