package proxy

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
)

func targets(weights ...int) []*Target {
	var ts []*Target
	for i, w := range weights {
		t := &Target{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.0.%d:80", i+1)}, Weight: w}
		t.healthy.Store(true)
		ts = append(ts, t)
	}
	return ts
}

func TestRoundRobinWeights(t *testing.T) {
	ts := targets(1, 3, 1)
	b := newRoundRobin(ts)
	now := time.Now()
	counts := make([]int, len(ts))
	for range 500 {
		counts[b.pick(ts, nil, netip.Addr{}, 0, now)]++
	}
	if counts[0] != 100 || counts[1] != 300 || counts[2] != 100 {
		t.Errorf("counts = %v, want [100 300 100]", counts)
	}
	// Smooth: the heavy target never gets three turns in a row.
	run, prev := 0, -1
	for range 50 {
		i := b.pick(ts, nil, netip.Addr{}, 0, now)
		if i == prev {
			run++
		} else {
			run = 1
		}
		prev = i
		if run > 2 {
			t.Fatal("weighted round robin is not smooth")
		}
	}
}

func TestBalancersSkipUnavailableAndTried(t *testing.T) {
	ts := targets(1, 1, 1)
	ts[1].healthy.Store(false)
	now := time.Now()
	key := func(*http.Request, netip.Addr) string { return "k" }
	for name, b := range map[string]balancer{"rr": newRoundRobin(ts), "least": leastRequests{}, "p2c": newRandomP2C(ts), "hash": newConsistentHash(ts, key)} {
		for range 50 {
			i := b.pick(ts, nil, netip.Addr{}, 1<<0, now)
			if i != 2 {
				t.Fatalf("%s picked %d, want 2 (0 tried, 1 unhealthy)", name, i)
			}
		}
		if i := b.pick(ts, nil, netip.Addr{}, 1<<0|1<<2, now); i != -1 {
			t.Fatalf("%s picked %d with nothing left", name, i)
		}
	}
}

func TestLeastRequests(t *testing.T) {
	ts := targets(1, 1, 2)
	ts[0].inFlight.Store(5)
	ts[1].inFlight.Store(1)
	ts[2].inFlight.Store(3) // (3+1)/2 = 2 per weight, worse than (1+1)/1 = 2? tie, then 1 at 2
	ts[2].inFlight.Store(2) // (2+1)/2 = 1.5 < 2
	if i := (leastRequests{}).pick(ts, nil, netip.Addr{}, 0, time.Now()); i != 2 {
		t.Errorf("picked %d, want 2", i)
	}
}

// TestConsistentHashMinimalRemap: removing one of five targets moves only
// the keys that target held.
func TestConsistentHashMinimalRemap(t *testing.T) {
	ts := targets(1, 1, 1, 1, 1)
	key := func(r *http.Request, _ netip.Addr) string { return r.Header.Get("K") }
	b := newConsistentHash(ts, key)
	now := time.Now()
	const n = 5000
	before := make([]int, n)
	share := make([]int, len(ts))
	for k := range n {
		r := &http.Request{Header: http.Header{"K": {fmt.Sprint("user-", k)}}}
		before[k] = b.pick(ts, r, netip.Addr{}, 0, now)
		share[before[k]]++
	}
	for i, c := range share {
		if c < n/5/2 || c > n/5*2 {
			t.Errorf("target %d holds %d of %d keys: poor spread %v", i, c, n, share)
		}
	}
	ts[3].healthy.Store(false)
	moved := 0
	for k := range n {
		r := &http.Request{Header: http.Header{"K": {fmt.Sprint("user-", k)}}}
		after := b.pick(ts, r, netip.Addr{}, 0, now)
		if after != before[k] {
			moved++
			if before[k] != 3 {
				t.Fatalf("key %d moved from healthy target %d to %d", k, before[k], after)
			}
		}
	}
	if moved != share[3] {
		t.Errorf("moved %d keys, want exactly the %d the removed target held", moved, share[3])
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(0.2, 0)
	now := time.Unix(5000, 0)
	for range 100 {
		b.Request(now)
	}
	got := 0
	for range 100 {
		if b.TryRetry(now) {
			got++
		}
	}
	if got != 20 {
		t.Errorf("retries allowed = %d, want 20 (0.2 of 100)", got)
	}
	// Ten seconds later the window is empty again.
	if b.TryRetry(now.Add(11 * time.Second)) {
		t.Error("retry allowed with no requests in the window")
	}
	m := NewBudget(0, 1)
	if !m.TryRetry(now) {
		t.Error("min_per_second should allow a retry with no traffic")
	}
}

func TestPassiveEjectionBacksOff(t *testing.T) {
	ts := targets(1)
	tg := ts[0]
	tg.passive = &config.PassiveCheck{ConsecutiveFailures: 2, EjectFor: config.Duration(time.Second), MaxEjectFor: config.Duration(3 * time.Second)}
	now := time.Unix(100, 0)
	tg.report(now, true)
	if !tg.Available(now) {
		t.Fatal("ejected after one failure")
	}
	if !tg.report(now, true) || tg.Available(now.Add(999*time.Millisecond)) || !tg.Available(now.Add(time.Second)) {
		t.Fatal("first ejection should last 1s")
	}
	now = now.Add(time.Second)
	tg.report(now, true)
	tg.report(now, true)
	if tg.Available(now.Add(1999*time.Millisecond)) || !tg.Available(now.Add(2*time.Second)) {
		t.Fatal("second ejection should last 2s")
	}
	now = now.Add(2 * time.Second)
	tg.report(now, true)
	tg.report(now, true)
	if tg.Available(now.Add(2999*time.Millisecond)) || !tg.Available(now.Add(3*time.Second)) {
		t.Fatal("third ejection should be capped at 3s")
	}
}
