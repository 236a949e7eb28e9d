package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestResponseHeaders: headers that reveal the upstream's software are
// removed from every route; security headers are added where the
// upstream set none; authenticated responses are not left to shared
// caches unless the upstream made them private.
func TestResponseHeaders(t *testing.T) {
	addr := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "Apache/2.4.1 (Unix) PHP/8.1.2")
		h.Set("X-Powered-By", "PHP/8.1.2")
		h.Set("Cache-Control", "public, max-age=60")
		if strings.HasSuffix(r.URL.Path, "/private-cc") {
			h.Set("Cache-Control", "private, max-age=60")
		}
		if strings.HasSuffix(r.URL.Path, "/own-frame") {
			h.Set("X-Frame-Options", "SAMEORIGIN")
		}
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
  members:
    authenticate: [keys]
    authorize: {any_authenticated: true}
    security_headers:
      frame_options: DENY
      referrer_policy: no-referrer
      content_security_policy: "default-src 'none'; frame-ancestors 'none'"
routes:
  - {name: open, match: {paths: ["/open/**"]}, upstream: app, policy: public}
  - {name: members, match: {paths: ["/members/**"]}, upstream: app, policy: members}
`, addr))
	_, key, _ := g.cli("keys", "create", "--consumer", "member")
	r := get(t, g.url("/open/x"))
	if r.status != 200 || r.header.Get("Server") != "" || r.header.Get("X-Powered-By") != "" ||
		r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("anonymous route: %d %v", r.status, r.header)
	}
	member := func(path string) response {
		var r response
		waitFor(t, 10*time.Second, "the new key", func() bool {
			r = do(t, client, "GET", g.url(path), nil, map[string]string{"X-API-Key": key})
			return r.status != 401
		})
		return r
	}
	r = member("/members/public-cc")
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Frame-Options") != "DENY" ||
		r.header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		r.header.Get("Server") != "" {
		t.Fatalf("authenticated route: %d %v", r.status, r.header)
	}
	if r := member("/members/private-cc"); r.header.Get("Cache-Control") != "private, max-age=60" {
		t.Fatalf("the upstream's private caching was overridden: %q", r.header.Get("Cache-Control"))
	}
	if r := member("/members/own-frame"); r.header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Fatalf("the upstream's own X-Frame-Options was overridden: %q", r.header.Get("X-Frame-Options"))
	}
}
