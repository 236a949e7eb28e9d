package ratelimit

import (
	"context"
	"sync"
)

// shards spreads keys over independent locks.
const shards = 64

// DefaultMaxKeys bounds the keys one Memory store tracks.
const DefaultMaxKeys = 1 << 20

// Memory is a node-local store: one int64 TAT per key, in shards each
// with its own lock and its own share of the key budget.
//
// Memory stays bounded whatever clients send. A key's entry is worth
// nothing once its TAT has passed (a fresh key behaves the same), and
// Sweep, run periodically, drops such entries. When a shard is full, the
// entry with the earliest TAT in a random sample of 8 (a stale or the
// most idle key) makes room, in constant time. A flood of distinct keys
// can therefore cost an idle client its history, never the gateway its
// memory: at most MaxKeys entries of about 40 bytes.
type Memory struct {
	perShard int
	shard    [shards]memShard
}

type memShard struct {
	mu  sync.Mutex
	tat map[uint64]int64
	_   [40]byte // keep shards on separate cache lines
}

// NewMemory returns a store for at most maxKeys keys (0: DefaultMaxKeys).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	m := &Memory{perShard: max(maxKeys/shards, 1)}
	for i := range m.shard {
		m.shard[i].tat = map[uint64]int64{}
	}
	return m
}

// Shared implements Store: the state is this node's.
func (m *Memory) Shared() bool { return false }

// Take applies l to key at now (unix nanoseconds).
func (m *Memory) Take(ctx context.Context, k Key, l Limit, now int64) Result {
	key := k.Local
	s := &m.shard[key%shards]
	s.mu.Lock()
	tat, ok := s.tat[key]
	if !ok && len(s.tat) >= m.perShard {
		evictEarliest(s.tat, tatOf)
	}
	res, next := l.decide(tat, now)
	if res.Allowed {
		s.tat[key] = next
	}
	s.mu.Unlock()
	return res
}

// evictEarliest deletes, of a sample of 8 entries, the one whose time
// (a TAT, or a period's end) is earliest: a stale one if the sample has
// one, else the most idle. It costs the same however full the map and
// whatever keys a flood brings; Sweep returns stale entries in bulk.
func evictEarliest[V any](m map[uint64]V, at func(V) int64) {
	var victim uint64
	earliest, n := int64(1<<63-1), 0
	for k, v := range m { // map order is randomised: a sample
		if t := at(v); t < earliest {
			victim, earliest = k, t
		}
		if n++; n == 8 {
			break
		}
	}
	delete(m, victim)
}

func tatOf(t int64) int64 { return t }

// Sweep drops every entry whose TAT has passed; Memory works without it,
// a periodic sweep only returns memory sooner.
func (m *Memory) Sweep(now int64) {
	for i := range m.shard {
		s := &m.shard[i]
		s.mu.Lock()
		for k, t := range s.tat {
			if t <= now {
				delete(s.tat, k)
			}
		}
		s.mu.Unlock()
	}
}

// Len returns the number of keys tracked.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shard {
		s := &m.shard[i]
		s.mu.Lock()
		n += len(s.tat)
		s.mu.Unlock()
	}
	return n
}
