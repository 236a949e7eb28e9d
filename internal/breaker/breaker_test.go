package breaker

import (
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
)

func TestBreaker(t *testing.T) {
	cfg := config.CircuitBreaker{FailureRatio: 0.5, MinRequests: 4, Window: config.Duration(10 * time.Second), OpenFor: config.Duration(30 * time.Second), HalfOpenRequests: 2}
	b := New(cfg)
	t0 := time.Unix(1000, 0)
	b.Record(t0, true)
	b.Record(t0, false)
	b.Record(t0, true)
	if b.State() != Closed {
		t.Fatal("opened before min_requests")
	}
	b.Record(t0, false) // 2 of 4 failed = 0.5
	if b.State() != Open || b.Allow(t0.Add(29*time.Second)) || b.Ready(t0.Add(29*time.Second)) {
		t.Fatal("breaker should be open and refusing")
	}
	t1 := t0.Add(31 * time.Second)
	if !b.Allow(t1) || b.State() != HalfOpen || !b.Allow(t1) || b.Allow(t1) {
		t.Fatal("half-open should admit exactly 2 probes")
	}
	b.Record(t1, true)
	b.Record(t1, false)
	if b.State() != Open {
		t.Fatal("a failed probe should reopen")
	}
	t2 := t1.Add(31 * time.Second)
	b.Allow(t2)
	b.Allow(t2)
	b.Record(t2, true)
	b.Record(t2, true)
	if b.State() != Closed {
		t.Fatalf("successful probes should close, state %v", b.State())
	}
	// A new window forgets old failures.
	b.Record(t2.Add(time.Minute), false)
	if b.State() != Closed {
		t.Fatal("one failure in a fresh window must not open")
	}
}
