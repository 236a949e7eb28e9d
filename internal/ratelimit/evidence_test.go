package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestEvidence holds the memory and the Redis evidence to the same
// story: counts slide, distinct members are those of the current and
// previous windows, and a key's evidence is its own.
func TestEvidence(t *testing.T) {
	srv := testenv.StartRedis(t)
	rd := NewRedis(RedisOptions{Addrs: []string{srv.Addr}, Timeout: time.Second})
	defer rd.Close()
	for name, ev := range map[string]Evidence{"memory": NewMemoryEvidence(0), "redis": rd} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := time.Minute
			k := Key{Local: 7, Shared: [16]byte{7, byte(len(name))}}
			other := Key{Local: 8, Shared: [16]byte{8, byte(len(name))}}
			t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC).UnixNano() // a window edge, as Redis aligns them
			var c, d int64
			for i := range 10 {
				c, d = ev.Observe(ctx, k, w, uint64(i%4+1), t0+int64(i)*int64(time.Second))
			}
			if c != 10 || d != 4 {
				t.Fatalf("first window: count %d distinct %d, want 10 and 4", c, d)
			}
			if c, d := ev.Observe(ctx, other, w, 99, t0); c != 1 || d != 1 {
				t.Fatalf("another key: %d %d", c, d)
			}
			// a quarter into the next window: 3/4 of the previous count
			// still covered, and its members still distinct
			c, d = ev.Observe(ctx, k, w, 5, t0+int64(w)+int64(w)/4)
			if c != 1+8 || d != 5 {
				t.Fatalf("next window: count %d distinct %d, want 9 and 5", c, d)
			}
			// two windows on: the first is forgotten
			c, d = ev.Observe(ctx, k, w, 0, t0+2*int64(w)+int64(time.Second))
			if d != 1 || c > 2 {
				t.Fatalf("later: count %d distinct %d", c, d)
			}
		})
	}
}
