package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestRedisStore runs GCRA in a real redis-server: the same arithmetic
// as the memory store, a budget shared by two clients (two gateway
// nodes), and each on_state_error choice while Redis is down.
func TestRedisStore(t *testing.T) {
	srv := testenv.StartRedis(t)
	l := Limit{Interval: 100 * time.Millisecond, Burst: 5} // 10/s, burst 5
	a := NewRedis(RedisOptions{Addrs: []string{srv.Addr}, OnError: FallbackLocal})
	b := NewRedis(RedisOptions{Addrs: []string{srv.Addr}, OnError: FallbackLocal})
	defer a.Close()
	defer b.Close()
	k := Key{Shared: [16]byte{1, 2, 3}}
	now := time.Now().UnixNano()
	admitted := 0
	for i := range 20 {
		node := a
		if i%2 == 1 {
			node = b
		}
		if r := node.Take(context.Background(), k, l, now); r.Allowed {
			admitted++
			if r.Remaining != int64(5-admitted) {
				t.Fatalf("request %d: remaining %d, want %d", i, r.Remaining, 5-admitted)
			}
		} else if r.RetryAfter <= 0 || r.RetryAfter > 100*time.Millisecond {
			t.Fatalf("request %d: retry after %v", i, r.RetryAfter)
		}
	}
	if admitted != 5 {
		t.Fatalf("two nodes together admitted %d at once, want the burst of 5", admitted)
	}
	time.Sleep(250 * time.Millisecond)
	if r := a.Take(context.Background(), k, l, time.Now().UnixNano()); !r.Allowed {
		t.Fatalf("after two intervals: %+v", r)
	}

	// Redis down: each choice of on_state_error, never a panic or a hang.
	srv.Stop()
	open := NewRedis(RedisOptions{Addrs: []string{srv.Addr}, OnError: FailOpen})
	closed := NewRedis(RedisOptions{Addrs: []string{srv.Addr}, OnError: FailClosed})
	defer open.Close()
	defer closed.Close()
	now = time.Now().UnixNano()
	start := time.Now()
	if r := open.Take(context.Background(), k, l, now); !r.Allowed {
		t.Fatal("allow: refused while Redis is down")
	}
	if r := closed.Take(context.Background(), k, l, now); r.Allowed || r.RetryAfter <= 0 {
		t.Fatal("deny: admitted while Redis is down")
	}
	local := 0
	for range 20 {
		if a.Take(context.Background(), k, l, now).Allowed {
			local++
		}
	}
	if local != 5 {
		t.Fatalf("local fallback admitted %d at once, want the burst of 5", local)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("calls with Redis down took %v", d)
	}

	// Back up: shared again once the 1s back-off has passed.
	srv.Start()
	time.Sleep(1100 * time.Millisecond)
	k2 := Key{Shared: [16]byte{9}}
	if r := a.Take(context.Background(), k2, l, time.Now().UnixNano()); !r.Allowed || r.Remaining != 4 {
		t.Fatalf("after Redis came back: %+v", r)
	}
	if r := b.Take(context.Background(), k2, l, time.Now().UnixNano()); !r.Allowed || r.Remaining != 3 {
		t.Fatalf("the other node after Redis came back: %+v (not shared?)", r)
	}
}

// TestRedisRequestEnded: a call whose request has ended (its context
// cancelled: the client hung up) admits nothing, even with fail-open,
// and does not count as Redis failing: the next request is answered
// from Redis, with no back-off and no fallback to per-node state.
func TestRedisRequestEnded(t *testing.T) {
	srv := testenv.StartRedis(t)
	failures := 0
	r := NewRedis(RedisOptions{Addrs: []string{srv.Addr}, OnError: FailOpen, Failures: func() { failures++ }})
	defer r.Close()
	l := Limit{Interval: time.Second, Burst: 5}
	k := Key{Shared: [16]byte{7}}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	now := time.Now().UnixNano()
	if res := r.Take(ended, k, l, now); res.Allowed {
		t.Fatal("a request that has ended was admitted")
	}
	if n, ok := r.Count(ended, k, 10, time.Now().Add(time.Hour), time.Now()); ok {
		t.Fatalf("a request that has ended was counted in its quota (%d)", n)
	}
	if failures != 0 || !r.up(now) {
		t.Fatalf("a cancelled request marked Redis down (%d failures)", failures)
	}
	if res := r.Take(context.Background(), k, l, now); !res.Allowed || res.Remaining != 4 {
		t.Fatalf("the next request: %+v, want the first of the burst, from Redis", res)
	}
}
