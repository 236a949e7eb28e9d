package shed

import (
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// TestShares: under a fixed limit of 20, each priority fills its share
// and no more; what is left is headroom for the more important.
func TestShares(t *testing.T) {
	for _, tc := range []struct {
		p    Priority
		want int
	}{{Low, 10}, {Normal, 15}, {High, 18}, {Critical, 20}} {
		l := New(Options{Initial: 20, Min: 20, Max: 20})
		n := 0
		for l.Acquire(tc.p) {
			n++
		}
		if n != tc.want {
			t.Errorf("%s: admitted %d, want %d", tc.p, n, tc.want)
		}
		// Below a full limit, a more important request still gets in.
		if tc.p != Critical && !l.Acquire(tc.p+1) {
			t.Errorf("%s filled its share; a %s request was shed", tc.p, tc.p+1)
		}
	}
}

// TestAdaptation drives the limit with a fake clock through the life of
// an upstream: healthy and busy (the limit grows), slowed (the limit
// falls to the minimum within a second), and slow for longer than the
// baseline window (the new latency is the new normal and the limit
// grows again).
func TestAdaptation(t *testing.T) {
	now := int64(1)
	l := New(Options{Min: 4, Max: 200, Initial: 32, Interval: 100 * time.Millisecond, Window: 10 * time.Second})
	l.now = func() int64 { return now }
	// interval runs one 100ms interval: requests of latency lat; shed
	// says whether the limit held some back.
	interval := func(lat time.Duration, shed bool) {
		for range 20 {
			if l.Acquire(Critical) {
				l.Release(lat)
			}
		}
		if shed {
			l.mu.Lock()
			l.refused = true
			l.mu.Unlock()
		}
		now += int64(100 * time.Millisecond)
		l.Acquire(Critical)
		l.Release(lat)
	}
	for range 20 {
		interval(10*time.Millisecond, true)
	}
	if got := l.Limit(); got <= 60 {
		t.Fatalf("healthy and held back for 2s: limit %d, want it to have grown from 32", got)
	}
	if b := l.Baseline(); b != 10*time.Millisecond {
		t.Fatalf("baseline %v, want 10ms", b)
	}
	// Not held back: no reason to grow.
	before := l.Limit()
	for range 5 {
		interval(10*time.Millisecond, false)
	}
	if got := l.Limit(); got != before {
		t.Fatalf("idle headroom grew the limit from %d to %d", before, got)
	}
	// Slowed to 5x: the limit falls to the minimum within two seconds.
	for range 20 {
		interval(50*time.Millisecond, true)
	}
	if got := l.Limit(); got != 4 {
		t.Fatalf("slowed for 2s: limit %d, want the minimum 4", got)
	}
	// Within tolerance (2x): no cut, and the limit probes up again.
	for range 10 {
		interval(19*time.Millisecond, true)
	}
	if got := l.Limit(); got <= 4 {
		t.Fatalf("latency within tolerance: limit %d, want growth", got)
	}
	// Slow for longer than the window: the baseline follows, the limit
	// grows again.
	for range 150 {
		interval(50*time.Millisecond, true)
	}
	if b := l.Baseline(); b != 50*time.Millisecond {
		t.Fatalf("after 15s at 50ms: baseline %v, want 50ms", b)
	}
	if got := l.Limit(); got < 100 {
		t.Fatalf("after the baseline followed: limit %d, want growth back towards the max", got)
	}
}

func TestParsePriority(t *testing.T) {
	for _, s := range []string{"critical", "high", "normal", "low"} {
		p, ok := ParsePriority(s)
		if !ok || p.String() != s {
			t.Errorf("%s: %v %v", s, p, ok)
		}
	}
	if _, ok := ParsePriority("urgent"); ok {
		t.Error("urgent parsed")
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	l := New(Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l.Acquire(Normal) {
				l.Release(time.Millisecond)
			}
		}
	})
}

// TestPriorityOf: the consumer's attribute, else the policy's, else
// normal for the authenticated and low for the anonymous.
func TestPriorityOf(t *testing.T) {
	who := func(attr string) *reqctx.Identity {
		return &reqctx.Identity{Consumer: "c", Attributes: map[string]string{"priority": attr}}
	}
	for _, tc := range []struct {
		name   string
		stage  Stage
		caller *reqctx.Identity
		want   Priority
	}{
		{"anonymous", Stage{}, nil, Low},
		{"authenticated", Stage{}, who(""), Normal},
		{"policy", Stage{Priority: High, PolicySet: true}, nil, High},
		{"policy low", Stage{Priority: Low, PolicySet: true}, who(""), Low},
		{"attribute wins", Stage{Priority: Low, PolicySet: true}, who("critical"), Critical},
		{"bad attribute ignored", Stage{Priority: High, PolicySet: true}, who("urgent"), High},
	} {
		if got := tc.stage.PriorityOf(&reqctx.State{Identity: tc.caller}); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
