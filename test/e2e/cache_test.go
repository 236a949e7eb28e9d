package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCache: through the binary, responses are answered from the cache
// per consumer by default; a shared route shares only what the upstream
// marks public, so the cache-deception cases (a private page under a
// static-looking name, path parameters, encoded suffixes) never hand
// one caller's page to another; what is kept is the filtered response;
// `rampart cache purge` empties a route.
func TestCache(t *testing.T) {
	var calls atomic.Int64
	up := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		who := r.Header.Get("X-Rampart-Consumer")
		switch {
		case strings.HasPrefix(r.URL.Path, "/catalog/items"):
			w.Header().Set("Cache-Control", "public, max-age=60")
		case r.URL.Path == "/vary":
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("Vary", "Accept-Language")
		default: // a caller's own page, which the upstream forgot to mark private
			w.Header().Set("Cache-Control", "max-age=60")
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path": %q, "for": %q, "lang": %q, "secret": "s3cr3t", "n": %d}`, r.URL.Path, who, r.Header.Get("Accept-Language"), calls.Load())
	}))
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
store: {driver: embedded, path: rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  app: {targets: [{url: "http://%s"}]}
policies:
  members:
    authenticate: [keys]
    authorize: {any_authenticated: true}
    response: {remove_fields: [secret]}
routes:
  - {name: account, match: {paths: ["/me/**"]}, upstream: app, policy: members, cache: {}}
  - {name: catalog, match: {paths: ["/catalog/**", "/vary"]}, upstream: app, policy: members, cache: {shared: true}}
`, up))
	key := func(consumer string) string {
		code, k, errs := g.cli("keys", "create", "--consumer", consumer)
		if code != 0 {
			t.Fatalf("keys create: %s", errs)
		}
		return strings.TrimSpace(k)
	}
	alice, bob := key("alice"), key("bob")
	call := func(k, path string, hdr map[string]string) response {
		h := map[string]string{"X-API-Key": k}
		for n, v := range hdr {
			h[n] = v
		}
		return do(t, client, "GET", g.url(path), nil, h)
	}
	waitFor(t, 10*time.Second, "the new keys (store sync)", func() bool {
		return call(alice, "/catalog/warmup", nil).status == 200 && call(bob, "/catalog/warmup", nil).status == 200
	})
	body := func(r response) string {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		return string(r.body)
	}

	// Per consumer: alice's page comes back from the cache to alice only.
	start := calls.Load()
	a1, a2, b1 := call(alice, "/me/profile", nil), call(alice, "/me/profile", nil), call(bob, "/me/profile", nil)
	if body(a1) != body(a2) || !strings.Contains(body(a1), `"for": "alice"`) || !strings.Contains(body(b1), `"for": "bob"`) {
		t.Fatalf("per consumer:\n%s %v\n%s %v\n%s", a1.body, a1.header, a2.body, a2.header, b1.body)
	}
	if !strings.HasPrefix(a2.header.Get("Cache-Status"), "Rampart; hit") || calls.Load()-start != 2 {
		t.Fatalf("alice's second call: %q, %d upstream calls", a2.header.Get("Cache-Status"), calls.Load()-start)
	}
	if strings.Contains(body(a2), "s3cr3t") {
		t.Fatal("the cached copy was kept before the response filter")
	}
	if a2.header.Get("X-Request-Id") == a1.header.Get("X-Request-Id") {
		t.Error("a hit repeated the first response's request id")
	}

	// Shared and public: one upstream call for both.
	start = calls.Load()
	c1, c2 := call(alice, "/catalog/items/7", nil), call(bob, "/catalog/items/7", nil)
	if body(c1) != body(c2) || calls.Load()-start != 1 {
		t.Fatalf("shared public: %d upstream calls", calls.Load()-start)
	}

	// Cache deception on the shared route: the upstream answers a
	// caller's own page (no public) under names a cache might take for
	// static files. Never stored, so bob never gets alice's.
	for _, path := range []string{"/catalog/account.css", "/catalog/account/x.js", "/catalog/account.css?v=1"} {
		a, b := call(alice, path, nil), call(bob, path, nil)
		if !strings.Contains(body(a), `"for": "alice"`) || !strings.Contains(body(b), `"for": "bob"`) {
			t.Errorf("%s: bob got %s", path, b.body)
		}
		if cs := a.header.Get("Cache-Status"); !strings.Contains(cs, "detail=authenticated") {
			t.Errorf("%s: Cache-Status %q", path, cs)
		}
	}
	// Path parameters and encoded separators never reach the cache.
	for _, path := range []string{"/me/profile;x.css", "/me/profile%2Fx.css", "/me/profile%3Bx.css"} {
		r := call(bob, path, nil)
		if r.status == 200 && strings.Contains(string(r.body), "alice") {
			t.Errorf("%s: bob got alice's page: %s", path, r.body)
		}
	}

	// Vary.
	fr, de, fr2 := call(alice, "/vary", map[string]string{"Accept-Language": "fr"}), call(alice, "/vary", map[string]string{"Accept-Language": "de"}),
		call(bob, "/vary", map[string]string{"Accept-Language": "fr"})
	if !strings.Contains(body(fr), `"lang": "fr"`) || !strings.Contains(body(de), `"lang": "de"`) || body(fr2) != body(fr) {
		t.Errorf("vary:\n%s\n%s\n%s", fr.body, de.body, fr2.body)
	}

	// A conditional request gets a 304 from the cache.
	etagless := call(alice, "/catalog/items/7", map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)})
	if etagless.status != 200 {
		t.Errorf("no validator stored, yet %d", etagless.status)
	}

	// Purge.
	if code, out, errs := g.cli("cache", "purge", "catalog", "--admin", "http://"+g.admin); code != 0 || !strings.Contains(out, "purged") {
		t.Fatalf("cache purge: %d %s %s", code, out, errs)
	}
	start = calls.Load()
	if r := call(alice, "/catalog/items/7", nil); !strings.HasPrefix(r.header.Get("Cache-Status"), "Rampart; fwd=uri-miss") || calls.Load()-start != 1 {
		t.Errorf("after the purge: %q", r.header.Get("Cache-Status"))
	}
	if code, _, errs := g.cli("cache", "purge", "nosuch", "--admin", "http://"+g.admin); code == 0 || !strings.Contains(errs, "404") {
		t.Errorf("purge of an unknown route: %d %s", code, errs)
	}
	g.metricsHave(t, `rampart_cache_total{outcome="hit",route="account"} 1`, `rampart_cache_total{outcome="stored",route="catalog"}`)
}
