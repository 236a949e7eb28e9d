package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGates(t *testing.T) {
	g := NewGates()
	ctx := context.Background()
	// The cap, then the queue, then refusal.
	for i := range 2 {
		if !g.Acquire(ctx, 1, 2, 1, time.Second) {
			t.Fatalf("request %d under the cap: refused", i)
		}
	}
	got := make(chan bool)
	go func() { got <- g.Acquire(ctx, 1, 2, 1, time.Second) }() // queued
	time.Sleep(50 * time.Millisecond)
	if g.Acquire(ctx, 1, 2, 1, time.Second) {
		t.Fatal("over the cap with the queue full: admitted")
	}
	g.Release(1) // hands the slot to the waiter
	if !<-got {
		t.Fatal("the waiter did not get the released slot")
	}
	if n := g.InFlight(1); n != 2 {
		t.Fatalf("in flight %d, want 2", n)
	}
	// A wait that runs out.
	start := time.Now()
	if g.Acquire(ctx, 1, 2, 1, 100*time.Millisecond) || time.Since(start) < 100*time.Millisecond {
		t.Fatal("the wait did not run out")
	}
	// A client that goes away stops waiting.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if g.Acquire(cctx, 1, 2, 1, 10*time.Second) {
		t.Fatal("a cancelled wait took a slot")
	}
	g.Release(1)
	g.Release(1)
	if n := g.InFlight(1); n != 0 || len(g.shard[1%shards].gates) != 0 {
		t.Fatalf("state left after the last release: %d in flight", n)
	}
}

// TestGatesUnderLoad: many goroutines never exceed the cap, and every
// slot taken is released.
func TestGatesUnderLoad(t *testing.T) {
	g := NewGates()
	var cur, peak, refused atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 50 {
				if !g.Acquire(context.Background(), 7, 4, 8, 50*time.Millisecond) {
					refused.Add(1)
					continue
				}
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond)
				cur.Add(-1)
				g.Release(7)
			}
		})
	}
	wg.Wait()
	if peak.Load() > 4 {
		t.Fatalf("peak %d in flight, cap 4", peak.Load())
	}
	if n := g.InFlight(7); n != 0 {
		t.Fatalf("%d left in flight", n)
	}
}
