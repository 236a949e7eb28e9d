package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// gauge reads one unlabelled sample from the admin /metrics output.
func gauge(t *testing.T, g *gw, name string) float64 {
	t.Helper()
	m := string(get(t, "http://"+g.admin+"/metrics").body)
	v := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(m)
	if v == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	f, err := strconv.ParseFloat(v[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestReloadChurn reloads 200 times between configs that replace every
// resource a snapshot holds (an upstream pool with active health checks,
// an IdP key set, a WAF rule set), serving between reloads: goroutines
// and the heap stay flat, so what a released snapshot held is closed.
func TestReloadChurn(t *testing.T) {
	up := startUpstream(t, "u1")
	ip := startIdP(t)
	cfg := func(i int) string {
		return fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: 127.0.0.1:0}
authenticators:
  idp: {type: jwt, issuer: %[1]q, jwks_uri: %[1]q, audiences: [orders], jwks_refresh: %[3]ds}
upstreams:
  pool:
    targets: [{url: %[2]s}]
    health_check: {active: {path: /health, interval: %[3]ds}}
policies:
  guarded: {waf: {paranoia: 1, inbound_threshold: %[4]d}}
routes:
  - {name: r, match: {paths: ["/**"]}, upstream: pool, policy: guarded}
`, ip.issuer, up.url(), 60+i%2, 5+i%2)
	}
	g := startGateway(t, cfg(0))
	reload := func(i int) {
		t.Helper()
		g.rewrite(t, cfg(i), false)
		r := do(t, client, "POST", "http://"+g.admin+"/config/reload", nil, nil)
		if r.status != 200 {
			t.Fatalf("reload %d: %d %s", i, r.status, r.body)
		}
		if r := get(t, g.url("/x")); r.status != 200 {
			t.Fatalf("after reload %d: %d", i, r.status)
		}
	}
	// settle reads goroutines and live heap at rest. The live heap is the
	// least of three readings, each right after a collection: garbage from
	// background work (health checks, key fetches, the scrape itself) only
	// ever adds to a reading, a leak adds to all three.
	settle := func() (goroutines, heap float64) {
		heap = -1
		for range 3 {
			time.Sleep(200 * time.Millisecond)
			get(t, "http://"+g.admin+"/debug/pprof/heap?gc=1") // a collection first
			if h := gauge(t, g, "go_memstats_heap_alloc_bytes"); heap < 0 || h < heap {
				heap = h
			}
		}
		return gauge(t, g, "go_goroutines"), heap
	}
	for i := 1; i <= 10; i++ {
		reload(i)
	}
	g0, h0 := settle()
	start := time.Now()
	for i := 11; i <= 210; i++ {
		reload(i)
	}
	took := time.Since(start)
	g1, h1 := settle()
	t.Logf("200 reloads in %v: goroutines %v -> %v, live heap %.1f -> %.1f MiB", took, g0, g1, h0/(1<<20), h1/(1<<20))
	if g1 > g0+3 {
		t.Errorf("goroutines grew from %v to %v over 200 reloads", g0, g1)
	}
	// Each WAF rule set left unclosed kept about 15 KiB live (2.9 MiB
	// over 200); closed, the live heap moved by at most 1.2 MiB in seven
	// runs.
	if h1 > h0+2<<20 {
		t.Errorf("live heap grew from %.1f to %.1f MiB over 200 reloads", h0/(1<<20), h1/(1<<20))
	}
}
