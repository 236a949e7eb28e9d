package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// capacityUpstream serves with a fixed number of workers, each request
// holding one for work; requests beyond the workers queue, as in a real
// service at capacity. Its latency therefore grows with concurrency.
type capacityUpstream struct {
	addr    string
	workers chan struct{}
	work    atomic.Int64 // ns
}

func startCapacityUpstream(t *testing.T, workers int, work time.Duration) *capacityUpstream {
	t.Helper()
	u := &capacityUpstream{workers: make(chan struct{}, workers)}
	u.work.Store(int64(work))
	u.addr = serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case u.workers <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		time.Sleep(time.Duration(u.work.Load()))
		<-u.workers
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	return u
}

// loadResult is what one priority's clients saw.
type loadResult struct {
	admitted, shed int
	latencies      []time.Duration // of admitted requests
	steady         []time.Duration // of those sent after the first second
	shedResponse   response        // one 503
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// drive runs clients closed-loop against url for d; a shed client waits
// 20ms before it tries again (clients that retry at once only burn the
// gateway's CPU, and the problem asks them to back off).
func drive(t *testing.T, url string, clients int, d time.Duration) *loadResult {
	t.Helper()
	var mu sync.Mutex
	res := &loadResult{}
	var wg sync.WaitGroup
	begin := time.Now()
	deadline := begin.Add(d)
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				start := time.Now()
				r := do(t, client, "GET", url, nil, nil)
				took := time.Since(start)
				mu.Lock()
				switch r.status {
				case 200:
					res.admitted++
					res.latencies = append(res.latencies, took)
					if start.Sub(begin) > time.Second {
						res.steady = append(res.steady, took)
					}
				case 503:
					res.shed++
					res.shedResponse = r
				default:
					t.Errorf("status %d: %s", r.status, r.body)
				}
				mu.Unlock()
				if r.status == 503 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	return res
}

// TestLoadShedding: an upstream loses capacity and slows down (two
// workers, 5ms per request becoming 40ms) while anonymous traffic
// floods it. Through a gateway with load shedding the high-priority
// route's admitted requests keep a p99 near the upstream's own latency,
// and the anonymous (low-priority) flood is what is shed; through a
// gateway without it, every request queues at the upstream. The p99s
// compared are of requests sent after the first second, once the limit
// has adapted (it takes a few 100ms intervals).
func TestLoadShedding(t *testing.T) {
	up := startCapacityUpstream(t, 2, 5*time.Millisecond)
	config := func(shedding string) string {
		return fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  app:
    targets: [{url: "http://%s"}]
%s
policies:
  partners: {authenticate: [], priority: high}
routes:
  - {name: gold, match: {paths: ["/gold"]}, upstream: app, policy: partners}
  - {name: free, match: {paths: ["/free"]}, upstream: app, policy: public}
`, up.addr, shedding)
	}
	shedGW := startGateway(t, config("    load_shedding: {min_limit: 2, tolerance: 2}"))
	plainGW := startGateway(t, config(""))

	// Healthy: the limiter learns the upstream's latency.
	drive(t, shedGW.url("/gold"), 2, 1500*time.Millisecond)

	// The upstream slows and the flood arrives.
	up.work.Store(int64(40 * time.Millisecond))
	var gold, free *loadResult
	var wg sync.WaitGroup
	wg.Go(func() { gold = drive(t, shedGW.url("/gold"), 3, 3*time.Second) })
	wg.Go(func() { free = drive(t, shedGW.url("/free"), 12, 3*time.Second) })
	wg.Wait()
	var plainGold *loadResult
	wg.Go(func() { plainGold = drive(t, plainGW.url("/gold"), 3, 3*time.Second) })
	wg.Go(func() { drive(t, plainGW.url("/free"), 12, 3*time.Second) })
	wg.Wait()

	t.Logf("with shedding: gold admitted %d shed %d p99 %v (all: %v); free admitted %d shed %d p99 %v",
		gold.admitted, gold.shed, p99(gold.steady), p99(gold.latencies), free.admitted, free.shed, p99(free.steady))
	plain := p99(plainGold.steady)
	t.Logf("without: gold admitted %d p99 %v", plainGold.admitted, plain)
	if plain < 160*time.Millisecond {
		t.Fatalf("without shedding the upstream should queue (15 clients, 2 workers of 40ms): p99 %v", plain)
	}
	if p := p99(gold.steady); p > plain/2 || p > 160*time.Millisecond {
		t.Fatalf("high priority p99 with shedding %v, without %v: want it bounded near the upstream's 40ms", p, plain)
	}
	goldRate := float64(gold.admitted) / float64(gold.admitted+gold.shed)
	freeRate := float64(free.admitted) / float64(free.admitted+free.shed)
	if free.shed == 0 || goldRate < 2*freeRate {
		t.Fatalf("admitted: gold %.2f, free %.2f: want the anonymous flood shed first", goldRate, freeRate)
	}
	r := free.shedResponse
	if p := problemOf(t, r, 503); p["type"] != "tag:rampart-gw.github.io,2026:problems/overloaded" || r.header.Get("Retry-After") == "" {
		t.Fatalf("shed: %v, Retry-After %q", p, r.header.Get("Retry-After"))
	}
	shedGW.metricsHave(t, `rampart_shed_total{priority="low",upstream="app"}`, `rampart_shed_limit{upstream="app"}`)
}
