package cache

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestSharedRedis: two stores (two nodes) over one real Redis: what one
// stores the other finds, a purge on one empties the other's memory too,
// and Redis going away is a miss, never an error.
func TestSharedRedis(t *testing.T) {
	rd := testenv.StartRedis(t)
	node := func() *Store {
		c := redis.NewClient(&redis.Options{Addr: rd.Addr, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond, MaxRetries: -1})
		t.Cleanup(func() { _ = c.Close() })
		s := NewStore(1 << 20)
		s.Share(NewRedis(c, nil, nil))
		t.Cleanup(s.Close)
		return s
	}
	a, b := node(), node()
	ctx, now := context.Background(), time.Now()
	key := KeyPrefix("orders") + "gen\x00api.example.com\x00/orders/1?\x00"
	e := &Entry{Status: 200, Header: http.Header{"Content-Type": {"application/json"}, "Etag": {`"v1"`}}, Body: []byte(`{"id":1}`),
		Stored: now, Fresh: time.Minute, Path: "/orders/1", Tags: []string{"orders"}, Vary: []string{"Accept"}, VaryValues: []string{"application/json"}}
	if !a.Put(ctx, key, e, now) {
		t.Fatal("not stored")
	}
	h := http.Header{"Accept": {"application/json"}}
	got := b.Get(ctx, key, h, now)
	if got == nil || string(got.Body) != `{"id":1}` || got.Header.Get("Etag") != `"v1"` || got.Path != "/orders/1" {
		t.Fatalf("node b got %+v", got)
	}
	if b.Get(ctx, key, http.Header{"Accept": {"text/html"}}, now) != nil {
		t.Error("another variant answered")
	}
	if b.getLocal(key, h) == nil {
		t.Error("node b did not keep what it loaded")
	}

	// a purge by tag on node a empties node b's memory as well
	if n := a.Purge(ctx, Selector{KeyPrefix: KeyPrefix("orders"), Tag: "orders"}); n != 1 {
		t.Errorf("purged %d in Redis, want 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.getLocal(key, h) != nil {
		if time.Now().After(deadline) {
			t.Fatal("node b still holds the purged entry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b.Get(ctx, key, h, now) != nil {
		t.Error("Redis still holds the purged entry")
	}

	// Redis gone: misses, quickly
	a.Put(ctx, key, e, now)
	rd.Stop()
	start := time.Now()
	c := node()
	if c.Get(ctx, key, h, now) != nil {
		t.Error("a hit without Redis")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a miss without Redis took %v", d)
	}
	if a.Get(ctx, key, h, now) == nil {
		t.Error("node a lost its memory with Redis")
	}
}

func TestSharedTTL(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		e    Entry
		want time.Duration
	}{
		{Entry{Stored: now, Fresh: time.Minute}, time.Minute},
		{Entry{Stored: now.Add(-30 * time.Second), Fresh: time.Minute, StaleIfError: time.Hour}, time.Hour + 30*time.Second},
		{Entry{Stored: now, Fresh: time.Minute, Header: http.Header{"Etag": {`"x"`}}}, time.Minute + revalidationGrace},
		{Entry{Stored: now, Fresh: 48 * time.Hour}, 24 * time.Hour},
	} {
		if got := sharedTTL([]*Entry{&tc.e}, now); got != tc.want {
			t.Errorf("sharedTTL = %v, want %v", got, tc.want)
		}
	}
}
