package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestVersioning: two versions side by side, chosen by path or by the
// Accept header's version parameter; the deprecated one says so on every
// answer (the upstream's and the gateway's own refusals), names its
// callers in route.deprecated events, and a route past its sunset answers
// 410 Gone without calling its upstream.
func TestVersioning(t *testing.T) {
	v1, v2 := startUpstream(t, "orders-v1"), startUpstream(t, "orders-v2")
	var retiredCalls atomic.Int64
	retired := serveUpstream(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { retiredCalls.Add(1) }))
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
events: {sinks: [{type: jsonl, path: stderr}]}
store: {driver: embedded, path: rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  orders-v1: {targets: [{url: %q}]}
  orders-v2: {targets: [{url: %q}]}
  retired: {targets: [{url: "http://%s"}]}
policies:
  partners: {authenticate: [keys], authorize: {any_authenticated: true}}
routes:
  - name: orders-v0
    match: {paths: ["/v0/orders/**"]}
    upstream: retired
    policy: partners
    deprecation: {since: 2024-01-01, sunset: 2025-01-01, successor: /v2/orders, link: "https://developer.example.com/v2"}
  - name: orders-v1
    match: {paths: ["/v1/orders/**"]}
    upstream: orders-v1
    policy: partners
    deprecation: {since: 2026-06-01, sunset: 2999-01-01, successor: /v2/orders, link: "https://developer.example.com/v2"}
  - {name: orders-v2, match: {paths: ["/v2/orders/**"]}, upstream: orders-v2, policy: partners}
  - {name: orders-by-media-type, match: {paths: ["/orders/**"], accept_params: {version: "2"}}, upstream: orders-v2, policy: partners}
  - name: orders-unversioned
    match: {paths: ["/orders/**"]}
    upstream: orders-v1
    policy: partners
    deprecation: {since: 2026-06-01, successor: /v2/orders}
`, v1.url(), v2.url(), retired))
	code, key, errs := g.cli("keys", "create", "--consumer", "acme")
	if code != 0 {
		t.Fatalf("keys create: %s", errs)
	}
	key = strings.TrimSpace(key)
	call := func(path string, hdr map[string]string) response {
		h := map[string]string{"X-API-Key": key}
		for k, v := range hdr {
			h[k] = v
		}
		return do(t, client, "GET", g.url(path), nil, h)
	}
	waitFor(t, 10*time.Second, "the new key (store sync)", func() bool { return call("/v2/orders/1", nil).status == 200 })
	links := []string{`<https://developer.example.com/v2>; rel="deprecation"; type="text/html"`, `</v2/orders>; rel="successor-version"`}
	deprecated := func(what string, r response) {
		t.Helper()
		if r.header.Get("Deprecation") != "@1780272000" || r.header.Get("Sunset") != "Tue, 01 Jan 2999 00:00:00 GMT" || !slices.Equal(r.header.Values("Link"), links) {
			t.Errorf("%s: lifecycle headers %v", what, r.header)
		}
	}

	// By path.
	r := call("/v1/orders/7", nil)
	if e := echoOf(t, r); e.Server != "orders-v1" {
		t.Fatalf("v1 by path went to %s", e.Server)
	}
	deprecated("v1", r)
	if e := echoOf(t, call("/v2/orders/7", nil)); e.Server != "orders-v2" {
		t.Fatalf("v2 by path went to %s", e.Server)
	}
	// A refusal on the deprecated route says so too.
	r = do(t, client, "GET", g.url("/v1/orders/7"), nil, nil)
	if p := problemOf(t, r, 401); p["type"] != "tag:rampart-gw.github.io,2026:problems/unauthorized" {
		t.Fatalf("no key: %v", p)
	}
	deprecated("a 401 on v1", r)

	// By media type: one URL, the version in Accept.
	for _, tc := range []struct{ accept, server string }{
		{"application/vnd.acme+json; version=2", "orders-v2"},
		{"text/html, application/vnd.acme+json;version=\"2\";q=0.8", "orders-v2"},
		{"application/vnd.acme+json; version=1", "orders-v1"},
		{"application/json", "orders-v1"},
		{"", "orders-v1"},
	} {
		r := call("/orders/7", map[string]string{"Accept": tc.accept})
		if e := echoOf(t, r); e.Server != tc.server {
			t.Errorf("Accept %q went to %s, want %s", tc.accept, e.Server, tc.server)
		}
		if got := r.header.Get("Deprecation") != ""; got != (tc.server == "orders-v1") {
			t.Errorf("Accept %q: Deprecation %q", tc.accept, r.header.Get("Deprecation"))
		}
	}

	// Past the sunset: 410, the way to v2, and no call upstream.
	r = call("/v0/orders/7", nil)
	p := problemOf(t, r, 410)
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/gone" || !strings.Contains(p["detail"].(string), "Use /v2/orders instead") ||
		!slices.Contains(r.header.Values("Link"), `</v2/orders>; rel="successor-version"`) {
		t.Fatalf("past the sunset: %v %v", p, r.header)
	}
	if retiredCalls.Load() != 0 {
		t.Fatal("a request past the sunset reached the upstream")
	}

	// Who still calls: one event per caller per route, and the counter.
	call("/v1/orders/8", nil)
	waitFor(t, 10*time.Second, "route.deprecated events", func() bool {
		n := 0
		for _, e := range g.events() {
			if e["type"] == "route.deprecated" {
				n++
			}
		}
		return n >= 3
	})
	seen := map[string]int{}
	for _, e := range g.events() {
		if e["type"] == "route.deprecated" {
			seen[fmt.Sprint(e["route"], " ", e["consumer"])]++
		}
	}
	// acme on v1 (twice, once reported), the anonymous 401 on v1 (by
	// address), acme on the unversioned route; nothing for the 410
	if seen["orders-v1 acme"] != 1 || seen["orders-v1 <nil>"] != 1 || seen["orders-unversioned acme"] != 1 || len(seen) != 3 {
		t.Errorf("route.deprecated events by route and consumer: %v", seen)
	}
	g.metricsHave(t, `rampart_deprecated_requests_total{outcome="gone",route="orders-v0"} 1`,
		`rampart_deprecated_requests_total{outcome="served",route="orders-v1"} 3`)

	// The audit finds the route past its sunset.
	if _, out, _ := g.cli("audit"); !strings.Contains(out, "[route-past-sunset] routes[0].deprecation.sunset") ||
		!strings.Contains(out, "[deprecated-without-sunset] routes[4].deprecation") {
		t.Errorf("audit:\n%s", out)
	}
}
