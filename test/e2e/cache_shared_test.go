package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestCacheTwoNodes: two gateway processes with the Redis state driver
// share one response cache: what one fetched the other answers without
// the upstream, a purge by tag through one reaches the other, and a
// stale entry answers in place of an upstream error on either.
func TestCacheTwoNodes(t *testing.T) {
	rs := testenv.StartRedis(t)
	var calls atomic.Int64
	var failing atomic.Bool
	up := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		maxAge := "60"
		if r.URL.Path == "/items/1" {
			maxAge = "1" // stale soon: the stale-if-error case
		}
		w.Header().Set("Cache-Control", "public, max-age="+maxAge+", stale-if-error=300")
		w.Header().Set("Cache-Tag", "catalog, item-"+strings.TrimPrefix(r.URL.Path, "/items/"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path": %q, "n": %d}`, r.URL.Path, calls.Load())
	}))
	cfg := fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
state: {driver: redis, addrs: [%q], timeout: 200ms}
upstreams:
  app: {targets: [{url: "http://%s"}]}
routes:
  - {name: catalog, match: {paths: ["/items/**"]}, upstream: app, policy: public, cache: {}}
`, rs.Addr, up)
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	get := func(g *gw, path string) response {
		t.Helper()
		// behind one load balancer, both nodes see the same Host
		return do(t, client, "GET", g.url(path), nil, map[string]string{"Host": "api.example.com"})
	}
	r := get(a, "/items/1")
	if r.status != 200 || r.header.Get("Cache-Tag") != "" {
		t.Fatalf("first: %d %v", r.status, r.header)
	}
	r = get(b, "/items/1")
	if !strings.Contains(r.header.Get("Cache-Status"), "hit") || calls.Load() != 1 {
		t.Errorf("the other node: %q, upstream called %d times", r.header.Get("Cache-Status"), calls.Load())
	}

	// stale-if-error on the other node, from the shared entry
	time.Sleep(1100 * time.Millisecond)
	failing.Store(true)
	r = get(b, "/items/1")
	if r.status != 200 || !strings.Contains(r.header.Get("Cache-Status"), "stale-if-error") || !strings.Contains(string(r.body), `"/items/1"`) {
		t.Errorf("upstream failing: %d %q %s", r.status, r.header.Get("Cache-Status"), r.body)
	}
	failing.Store(false)

	// a purge by tag through one node empties both
	get(a, "/items/2")
	if code, out, errs := a.cli("cache", "purge", "catalog", "--tag", "item-1", "--admin", "http://"+a.admin); code != 0 || !strings.Contains(out, "purged 1 cached responses") {
		t.Fatalf("purge: %d %s %s", code, out, errs)
	}
	waitFor(t, 5*time.Second, "the purge on node b", func() bool {
		return !strings.Contains(get(b, "/items/1").header.Get("Cache-Status"), "hit")
	})
	if r := get(b, "/items/2"); !strings.Contains(r.header.Get("Cache-Status"), "hit") {
		t.Errorf("an entry without the tag was purged: %q", r.header.Get("Cache-Status"))
	}
}
