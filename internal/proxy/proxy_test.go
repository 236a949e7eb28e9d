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
	// min_per_second is a floor in every second: a burst that spends
	// the ratio leaves the floor of the seconds after it.
	f := NewBudget(0.2, 5)
	for range 10 {
		f.Request(now)
	}
	burst := 0
	for range 50 {
		if f.TryRetry(now) {
			burst++
		}
	}
	if burst != 5 { // the floor; its retries count against the ratio's 2 too
		t.Errorf("burst got %d retries, want 5", burst)
	}
	for s := 1; s <= 5; s++ {
		n := 0
		for range 20 {
			if f.TryRetry(now.Add(time.Duration(s) * time.Second)) {
				n++
			}
		}
		if n != 5 {
			t.Errorf("second %d after the burst: %d retries, want the floor of 5", s, n)
		}
	}
}

func TestPassiveEjectionBacksOff(t *testing.T) {
	ts := targets(1)
	tg := ts[0]
	tg.passive = &config.PassiveCheck{ConsecutiveFailures: 2, EjectFor: config.Duration(time.Second), MaxEjectFor: config.Duration(3 * time.Second)}
	tg.counts = attemptOutcomes(connectFailed | errored | status5xx)
	now := time.Unix(100, 0)
	tg.report(now, errored)
	if !tg.Available(now) {
		t.Fatal("ejected after one failure")
	}
	if !tg.report(now, status5xx) || tg.Available(now.Add(999*time.Millisecond)) || !tg.Available(now.Add(time.Second)) {
		t.Fatal("first ejection should last 1s")
	}
	now = now.Add(time.Second)
	tg.report(now, errored)
	tg.report(now, errored)
	if tg.Available(now.Add(1999*time.Millisecond)) || !tg.Available(now.Add(2*time.Second)) {
		t.Fatal("second ejection should last 2s")
	}
	now = now.Add(2 * time.Second)
	tg.report(now, errored)
	tg.report(now, errored)
	if tg.Available(now.Add(2999*time.Millisecond)) || !tg.Available(now.Add(3*time.Second)) {
		t.Fatal("third ejection should be capped at 3s")
	}
}

// TestPassiveEjectionOneOutageOnce: failures of attempts in flight when
// the target was ejected (reported while it is out) do not eject it
// again; a success after it comes back resets the backoff; an active
// check that passes re-admits it at once.
func TestPassiveEjectionOneOutageOnce(t *testing.T) {
	tg := targets(1)[0]
	tg.passive = &config.PassiveCheck{ConsecutiveFailures: 3, EjectFor: config.Duration(2 * time.Second), MaxEjectFor: config.Duration(time.Minute)}
	tg.counts = passiveCounts(&config.PassiveCheck{On: []string{"error", "5xx"}})
	now := time.Unix(100, 0)
	for range 3 {
		tg.report(now, connectFailed)
	}
	if tg.Available(now) {
		t.Fatal("not ejected after 3 failures")
	}
	// 30 stragglers of the same outage, while it is out.
	for i := range 30 {
		if tg.report(now.Add(time.Duration(i)*10*time.Millisecond), errored) {
			t.Fatal("a straggler ejected the target again")
		}
	}
	if !tg.Available(now.Add(2 * time.Second)) {
		t.Fatal("one outage kept the target out past eject_for")
	}
	now = now.Add(2 * time.Second)
	tg.report(now, succeeded)
	for range 3 {
		tg.report(now, connectFailed)
	}
	if tg.Available(now.Add(1999*time.Millisecond)) || !tg.Available(now.Add(2*time.Second)) {
		t.Fatal("after a success, the next outage should start at eject_for again")
	}
	if !tg.readmit() || !tg.Available(now) {
		t.Fatal("a passing active check did not re-admit the target")
	}
}

// TestPassiveDefaults: without configuration only connect failures
// count; disabled counts nothing.
func TestPassiveDefaults(t *testing.T) {
	for _, c := range []struct {
		p    *config.PassiveCheck
		want attemptOutcomes
	}{
		{&config.PassiveCheck{On: []string{"connect_failure"}}, attemptOutcomes(connectFailed)},
		{&config.PassiveCheck{On: []string{"error", "5xx"}}, attemptOutcomes(connectFailed | errored | status5xx)},
		{&config.PassiveCheck{On: []string{"5xx"}}, attemptOutcomes(status5xx)},
		{&config.PassiveCheck{On: []string{"error"}, Disabled: true}, 0},
		{nil, 0},
	} {
		if got := passiveCounts(c.p); got != c.want {
			t.Errorf("%+v: %b, want %b", c.p, got, c.want)
		}
	}
}
