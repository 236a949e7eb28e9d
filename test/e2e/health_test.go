package e2e

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadGen sends GETs to url from n goroutines until stopped, counting
// who served and what failed.
type loadGen struct {
	stop     atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	served   map[string]int // by X-Upstream
	failures []time.Time
}

func startLoad(url string, n int) *loadGen {
	l := &loadGen{served: map[string]int{}}
	for range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stop.Load() {
				res, err := client.Get(url)
				l.mu.Lock()
				if err != nil || res.StatusCode != 200 {
					l.failures = append(l.failures, time.Now())
				} else {
					l.served[res.Header.Get("X-Upstream")]++
				}
				l.mu.Unlock()
				if err == nil {
					res.Body.Close()
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *loadGen) count(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.served[name]
}

func (l *loadGen) failuresSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, f := range l.failures {
		if !f.Before(t) {
			n++
		}
	}
	return n
}

func (l *loadGen) end() {
	l.stop.Store(true)
	l.wg.Wait()
}

// poolGateway runs a gateway whose one route goes to a pool of the
// targets, with more of the upstream's settings in extra (indented as
// keys of the upstream).
func poolGateway(t *testing.T, targets []*upstream, extra string) *gw {
	t.Helper()
	var urls []string
	for _, u := range targets {
		urls = append(urls, "{url: "+u.url()+"}")
	}
	return startGateway(t, fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: 127.0.0.1:0}
upstreams:
  pool:
    targets: [%s]
%sroutes:
  - {name: r, match: {paths: ["/**"]}, upstream: pool, policy: public}
`, strings.Join(urls, ", "), extra))
}

// TestOneOutageOneEjection: a target killed and restarted a second later
// is back once eject_for (2s) has passed, although requests in flight at
// its ejection kept failing. Each of those used to count as a new
// ejection, doubling the period: it stayed out for 32s.
func TestOneOutageOneEjection(t *testing.T) {
	u1 := startUpstream(t, "u1")
	u2 := startUpstream(t, "u2")
	g := poolGateway(t, []*upstream{u1, u2}, `    health_check:
      passive: {consecutive_failures: 3, eject_for: 2s}
`)
	load := startLoad(g.url("/delay/20"), 16)
	defer load.end()
	waitFor(t, 5*time.Second, "both targets serving", func() bool { return load.count("u1") > 0 && load.count("u2") > 0 })
	addr := u1.addr
	_ = u1.cmd.Process.Kill()
	<-u1.done
	time.Sleep(time.Second)
	startUpstreamOn(t, "u1-again", addr)
	restarted := time.Now()
	waitFor(t, 6*time.Second, "the restarted target serving again", func() bool { return load.count("u1-again") > 0 })
	if d := time.Since(restarted); d > 4*time.Second {
		t.Errorf("back in service %v after its restart; eject_for is 2s", d)
	}
}

// TestPassiveEjectionByDefault: with no health check configured, a dead
// target of two is ejected on connect failures, and clients stop seeing
// errors once it is, although the retry budget is spent.
func TestPassiveEjectionByDefault(t *testing.T) {
	u1 := startUpstream(t, "u1")
	u2 := startUpstream(t, "u2")
	g := poolGateway(t, []*upstream{u1, u2}, `    retries: {attempts: 0}
`)
	load := startLoad(g.url("/x"), 8)
	waitFor(t, 5*time.Second, "both targets serving", func() bool { return load.count("u1") > 0 && load.count("u2") > 0 })
	_ = u1.cmd.Process.Kill()
	<-u1.done
	killed := time.Now()
	time.Sleep(time.Second)
	settled := time.Now()
	before := load.count("u2")
	time.Sleep(2 * time.Second)
	load.end()
	// No retries at all here: the failures are the 5 connect failures
	// that eject the target, and those of the other 7 clients' requests
	// already on their way to it, and no more.
	if n := load.failuresSince(killed); n > 5+7 {
		t.Errorf("%d requests failed after one target of two died (ejection takes 5, 7 more may be in flight)", n)
	}
	if n := load.failuresSince(settled); n > 0 || load.count("u2") == before {
		t.Errorf("%d failures after the dead target was ejected; u2 served %d", n, load.count("u2")-before)
	}
	g.metricsHave(t, fmt.Sprintf(`rampart_upstream_target_healthy{target=%q,upstream="pool"} 0`, u1.addr))
}

// TestActiveCheckReadmits: a target ejected by live traffic (5xx) for a
// minute is back as soon as its active check passes.
func TestActiveCheckReadmits(t *testing.T) {
	u1 := startUpstream(t, "u1")
	g := poolGateway(t, []*upstream{u1}, `    health_check:
      active: {path: /health, interval: 200ms, healthy_threshold: 1}
      passive: {on: [5xx], consecutive_failures: 2, eject_for: 1m}
`)
	for range 2 {
		if r := get(t, g.url("/status/500")); r.status != 500 {
			t.Fatalf("status %d", r.status)
		}
	}
	if r := get(t, g.url("/x")); r.status != 503 {
		t.Fatalf("after two 5xx the target should be ejected: %d", r.status)
	}
	ejected := time.Now()
	waitFor(t, 3*time.Second, "re-admitted by its passing health check", func() bool { return get(t, g.url("/x")).status == 200 })
	if d := time.Since(ejected); d > 2*time.Second {
		t.Errorf("re-admitted after %v", d)
	}
	if !strings.Contains(g.stderr.String(), "re-admitted") {
		t.Error("re-admission not logged")
	}
}
