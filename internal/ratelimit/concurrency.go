package ratelimit

import (
	"context"
	"hash/maphash"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Gates caps requests in flight per key. A request over the cap waits in
// a bounded FIFO queue for a bounded time; a finishing request hands its
// slot straight to the first waiter. State exists only for keys with
// requests in flight or waiting, so memory follows load, not the number
// of clients ever seen. Gates are per node.
type Gates struct {
	shard [shards]gateShard
}

type gateShard struct {
	mu    sync.Mutex
	gates map[uint64]*gate
}

type gate struct {
	inFlight int
	waiters  []chan struct{} // FIFO; closed to hand over a slot
}

// NewGates returns empty gates.
func NewGates() *Gates {
	g := &Gates{}
	for i := range g.shard {
		g.shard[i].gates = map[uint64]*gate{}
	}
	return g
}

// Acquire takes a slot of key under limit, waiting in a queue of at most
// queue others for at most wait. It reports whether a slot was taken;
// then Release must follow.
func (g *Gates) Acquire(ctx context.Context, key uint64, limit, queue int, wait time.Duration) bool {
	s := &g.shard[key%shards]
	s.mu.Lock()
	gt := s.gates[key]
	if gt == nil {
		gt = &gate{}
		s.gates[key] = gt
	}
	if gt.inFlight < limit {
		gt.inFlight++
		s.mu.Unlock()
		return true
	}
	if len(gt.waiters) >= queue || wait <= 0 {
		s.mu.Unlock()
		return false
	}
	ch := make(chan struct{})
	gt.waiters = append(gt.waiters, ch)
	s.mu.Unlock()

	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range gt.waiters {
		if w == ch {
			gt.waiters = append(gt.waiters[:i], gt.waiters[i+1:]...)
			return false
		}
	}
	return true // handed a slot just as the wait ended: keep it
}

// Release gives key's slot to the first waiter, or back.
func (g *Gates) Release(key uint64) {
	s := &g.shard[key%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	gt := s.gates[key]
	if gt == nil {
		return
	}
	if len(gt.waiters) > 0 {
		ch := gt.waiters[0]
		gt.waiters = gt.waiters[1:]
		close(ch) // the slot passes on; inFlight is unchanged
		return
	}
	if gt.inFlight--; gt.inFlight <= 0 {
		delete(s.gates, key)
	}
}

// InFlight returns the requests in flight for key (for tests).
func (g *Gates) InFlight(key uint64) int {
	s := &g.shard[key%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if gt := s.gates[key]; gt != nil {
		return gt.inFlight
	}
	return 0
}

// ConcurrencyStage caps a policy's requests in flight per key.
type ConcurrencyStage struct {
	Gates *Gates
	Seed  maphash.Seed
	Limit int
	Queue int
	Wait  time.Duration
	id    string
	parts []part
	Count func(outcome string) // admitted, queued, refused; may be nil
}

// NewConcurrencyStage compiles a policy's concurrency section.
func NewConcurrencyStage(policy string, c *config.Concurrency, gates *Gates, seed maphash.Seed, count func(string)) (*ConcurrencyStage, error) {
	parts, err := parseKey(c.Key)
	if err != nil {
		return nil, err
	}
	return &ConcurrencyStage{Gates: gates, Seed: seed, Limit: c.Limit, Queue: c.Queue, Wait: c.QueueTimeout.D(),
		id: policy + "\x00concurrency\x00" + c.Key, parts: parts, Count: count}, nil
}

// Name names the stage in traces and docs/architecture.md (stage 11, concurrency caps (a rate limit span)).
func (s *ConcurrencyStage) Name() string { return "rate_limit" }

// Wrap implements the gateway's Stage.
func (s *ConcurrencyStage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		var buf [256]byte
		key := maphash.Bytes(s.Seed, appendKey(buf[:0], s.id, s.parts, r, st))
		if !s.Gates.Acquire(r.Context(), key, s.Limit, s.Queue, s.Wait) {
			s.count("refused")
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.ConcurrencyLimited, Reason: "concurrency_limited", Stage: "concurrency",
				Rule: "concurrency", Detail: "Too many requests in progress: at most " + strconv.Itoa(s.Limit) +
					" at a time are allowed. Wait for earlier requests to finish, then retry.", Header: map[string]string{"Retry-After": "1"}})
			return
		}
		defer s.Gates.Release(key)
		s.count("admitted")
		next.ServeHTTP(w, r)
	})
}

func (s *ConcurrencyStage) count(outcome string) {
	if s.Count != nil {
		s.Count(outcome)
	}
}
