package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestRateLimitsTwoNodes: two gateway processes share one Redis and so
// one limit; a load split across both is admitted at the configured rate
// within 5%. With Redis stopped mid-run each node limits on its own (no
// 5xx); restarted, the limit is shared again.
//
// The burst is half a second of the rate on purpose: the load comes from
// four client loops on a machine that also runs other tests, and GCRA
// (rightly) does not bank more than the burst, so a pause of every client
// longer than burst/rate would lose admissions the limiter never saw
// asked for. A 0.5 s burst absorbs such pauses and keeps this a test of
// the limiter, not of the scheduler; one shared budget (≈250 in 2 s)
// stays far from two per-node budgets (≈500).
func TestRateLimitsTwoNodes(t *testing.T) {
	rs := testenv.StartRedis(t)
	up := startUpstream(t, "orders")
	cfg := fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
state: {driver: redis, addrs: [%q], timeout: 200ms, on_state_error: local}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  open:
    authenticate: []
    rate_limits: [{key: "header:X-Client", rate: 100/s, burst: 50, name: per-client}]
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: echo, policy: open}
`, rs.Addr, up.url())
	nodes := []*gw{startGateway(t, cfg), startGateway(t, cfg)}

	// run sends from 2 workers per node for d, as fast as they can, and
	// returns what was admitted and the time it took.
	run := func(who string, d time.Duration) (int64, time.Duration) {
		var admitted atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(d)
		for i := range 4 {
			g := nodes[i%2]
			wg.Go(func() {
				for time.Now().Before(deadline) {
					r := do(t, client, "GET", g.url("/x"), nil, map[string]string{"X-Client": who})
					switch r.status {
					case 200:
						admitted.Add(1)
					case 429:
					default:
						t.Errorf("status %d: %s", r.status, r.body)
						return
					}
				}
			})
		}
		wg.Wait()
		return admitted.Load(), time.Since(start)
	}
	within := func(what string, got int64, want, tolerance float64) {
		t.Helper()
		if math.Abs(float64(got)-want) > want*tolerance {
			t.Fatalf("%s: admitted %d, want %.0f ±%.0f%%", what, got, want, tolerance*100)
		}
		t.Logf("%s: admitted %d, want %.0f", what, got, want)
	}

	got, took := run("shared", 3*time.Second)
	within("two nodes, one Redis", got, 50+100*took.Seconds(), 0.05)

	// Redis down: each node limits alone, so up to twice the rate, and
	// every request is still answered 200 or 429.
	rs.Stop()
	got, took = run("down", 2*time.Second)
	if max := 2 * (50 + 100*took.Seconds()) * 1.05; float64(got) > max || float64(got) < 100*took.Seconds()*0.9 {
		t.Fatalf("Redis down: admitted %d in %v, want between one node's and two nodes' limit", got, took)
	}

	// Back: one shared limit again (after the 1s back-off).
	rs.Start()
	time.Sleep(1200 * time.Millisecond)
	got, took = run("again", 2*time.Second)
	within("Redis back", got, 50+100*took.Seconds(), 0.05)
}

// TestQuota: a daily quota per consumer, shown in the RateLimit headers,
// refused with a quota-exceeded problem until the next day; with state
// in Redis the count survives a gateway restart.
func TestQuota(t *testing.T) {
	rs := testenv.StartRedis(t)
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	cfg := fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
state: {driver: redis, addrs: [%q]}
authenticators:
  idp: {type: oidc, issuer: %q, audiences: [orders], algorithms: [ES256]}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  metered:
    authenticate: [idp]
    authorize: {any_authenticated: true}
    quota: {limit: 3, period: day}
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: echo, policy: metered}
`, rs.Addr, ip.issuer, up.url())
	tok := bearer(ip.token(t, map[string]string{"sub": "alice", "aud": "orders"}))
	g := startGateway(t, cfg)
	for i := range 2 {
		r := do(t, client, "GET", g.url("/x"), nil, tok)
		if r.status != 200 || r.header.Get("RateLimit-Policy") != `"quota";q=3;w=86400` ||
			!strings.HasPrefix(r.header.Get("RateLimit"), fmt.Sprintf(`"quota";r=%d;t=`, 1-i+1)) {
			t.Fatalf("request %d: %d %q %q", i, r.status, r.header.Get("RateLimit-Policy"), r.header.Get("RateLimit"))
		}
	}
	// Restart: the count is in Redis.
	g.signal(t, syscall.SIGTERM)
	g.wait(t, 10*time.Second)
	g = startGateway(t, cfg)
	if r := do(t, client, "GET", g.url("/x"), nil, tok); r.status != 200 || !strings.HasPrefix(r.header.Get("RateLimit"), `"quota";r=0;`) {
		t.Fatalf("third request after a restart: %d %q", r.status, r.header.Get("RateLimit"))
	}
	r := do(t, client, "GET", g.url("/x"), nil, tok)
	p := problemOf(t, r, 429)
	_, end := ratelimitDay(time.Now())
	retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/quota-exceeded" || math.Abs(float64(retry)-time.Until(end).Seconds()) > 5 {
		t.Fatalf("over the quota: %v, Retry-After %d, next period in %v", p, retry, time.Until(end))
	}
	// The operator sees the usage through the admin API.
	var usage struct {
		Consumer string
		Quotas   []struct {
			Policy, Period         string
			Limit, Used, Remaining int64
			ResetsAt               time.Time `json:"resets_at"`
		}
	}
	body := get(t, "http://"+g.admin+"/consumers/alice/quotas").body
	if err := json.Unmarshal(body, &usage); err != nil || len(usage.Quotas) != 1 {
		t.Fatalf("quota usage: %s %v", body, err)
	}
	if q := usage.Quotas[0]; q.Policy != "metered" || q.Period != "day" || q.Limit != 3 || q.Used != 3 || q.Remaining != 0 || !q.ResetsAt.Equal(end) {
		t.Fatalf("quota usage: %+v, want 3 of 3 used, resetting at %v", q, end)
	}
}

// ratelimitDay is the UTC day holding t.
func ratelimitDay(t time.Time) (time.Time, time.Time) {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 0, 1)
}
