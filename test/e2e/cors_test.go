package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCORS: preflights are answered by the gateway before
// authentication, from allowed origins only; actual requests carry the
// CORS headers the gateway decides, replacing the upstream's, also on
// the gateway's own error responses; a disallowed origin gets none.
func TestCORS(t *testing.T) {
	var calls atomic.Int64
	addr := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "*") // a lax upstream
		w.Header().Set("Vary", "Accept-Encoding")
		_, _ = w.Write([]byte(`{"ok":true}`))
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
  spa:
    authenticate: [keys]
    authorize: {any_authenticated: true}
    cors:
      allow_origins: ["https://app.example.com", "https://*.example.org"]
      allow_methods: [GET, POST]
      allow_headers: [X-API-Key, Content-Type]
      expose_headers: [X-Request-Id]
      allow_credentials: true
      max_age: 5m
routes:
  - {name: api, match: {paths: ["/api/**"], methods: [GET, POST, PUT]}, upstream: app, policy: spa}
`, addr))
	code, key, errs := g.cli("keys", "create", "--consumer", "web")
	if code != 0 {
		t.Fatalf("keys create: %s", errs)
	}
	preflight := func(origin, method, headers string) response {
		h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		return do(t, client, "OPTIONS", g.url("/api/orders"), nil, h)
	}
	r := preflight("https://app.example.com", "POST", "x-api-key, content-type")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		r.header.Get("Access-Control-Allow-Methods") != "GET, POST" || r.header.Get("Access-Control-Allow-Headers") != "x-api-key, content-type" ||
		r.header.Get("Access-Control-Allow-Credentials") != "true" || r.header.Get("Access-Control-Max-Age") != "300" ||
		!strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
		t.Fatalf("allowed preflight: %d %v", r.status, r.header)
	}
	if r := preflight("https://a.b.example.org", "GET", ""); r.status != 204 {
		t.Fatalf("pattern origin: %d", r.status)
	}
	for _, tc := range []struct{ name, origin, method, headers string }{
		{"other origin", "https://evil.example.net", "GET", ""},
		{"the pattern's apex", "https://example.org", "GET", ""},
		{"a look-alike", "https://evilexample.org", "GET", ""},
		{"http instead of https", "http://app.example.com", "GET", ""},
		{"method", "https://app.example.com", "PUT", ""},
		{"header", "https://app.example.com", "GET", "x-debug"},
	} {
		r := preflight(tc.origin, tc.method, tc.headers)
		if p := problemOf(t, r, 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/cors-rejected" || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: %v %v", tc.name, p, r.header)
		}
	}
	// A method no route serves: the route table's 405, without CORS headers.
	if r := preflight("https://app.example.com", "DELETE", ""); r.status != 405 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight for DELETE: %d %v", r.status, r.header)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("preflights reached the upstream %d times", n)
	}

	// Actual requests, once the gateway has seen the new key (store sync).
	waitFor(t, 10*time.Second, "the new key", func() bool {
		r = do(t, client, "GET", g.url("/api/orders"), nil, map[string]string{"Origin": "https://app.example.com", "X-API-Key": key})
		return r.status != 401
	})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || r.header.Get("Access-Control-Allow-Credentials") != "true" ||
		r.header.Get("Access-Control-Expose-Headers") != "X-Request-Id" || strings.Join(r.header.Values("Vary"), ",") != "Accept-Encoding,Origin" {
		t.Fatalf("allowed origin: %d %v", r.status, r.header)
	}
	r = do(t, client, "GET", g.url("/api/orders"), nil, map[string]string{"Origin": "https://evil.example.net", "X-API-Key": key})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin: %d, Access-Control-Allow-Origin %q (the upstream's * must not leak)", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	// The gateway's own 401 is readable by the allowed page.
	r = do(t, client, "GET", g.url("/api/orders"), nil, map[string]string{"Origin": "https://app.example.com"})
	if problemOf(t, r, 401); r.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("401 without CORS headers: %v", r.header)
	}
	// A route's other methods are still 405 for plain OPTIONS.
	if r := do(t, client, "OPTIONS", g.url("/api/orders"), nil, nil); r.status != 405 {
		t.Fatalf("OPTIONS without Origin: %d", r.status)
	}
}
