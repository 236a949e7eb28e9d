package ratelimit

import (
	"context"
	"encoding/hex"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Evidence counts a key's events over a sliding window, and the distinct
// subjects among them (the accounts tried, the objects asked for): what
// attack correlation reads. The count is a sliding window as the
// graduated response's; distinct subjects are those of the current and
// the previous fixed window.
type Evidence interface {
	// Observe records one event of k about member (0: none) at now and
	// returns the window's count and distinct members.
	Observe(ctx context.Context, k Key, window time.Duration, member uint64, now int64) (count, distinct int64)
}

// maxDistinct bounds the members a memory window keeps: thresholds are
// validated below it, so a full set has told what it needed to.
const maxDistinct = 1024

// MemoryEvidence is per-node evidence, bounded: a full shard evicts, of
// a sample, the entry whose window began first.
type MemoryEvidence struct {
	perShard int
	shard    [shards]evidenceShard
}

type evidenceShard struct {
	mu sync.Mutex
	m  map[uint64]*evidenceEntry
}

type evidenceEntry struct {
	window
	length    int64
	cur, prev map[uint64]struct{}
}

// NewMemoryEvidence returns evidence for at most maxKeys keys (0:
// DefaultMaxKeys/8).
func NewMemoryEvidence(maxKeys int) *MemoryEvidence {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys / 8
	}
	m := &MemoryEvidence{perShard: max(maxKeys/shards, 1)}
	for i := range m.shard {
		m.shard[i].m = map[uint64]*evidenceEntry{}
	}
	return m
}

// Observe implements Evidence.
func (m *MemoryEvidence) Observe(_ context.Context, k Key, w time.Duration, member uint64, now int64) (int64, int64) {
	s := &m.shard[k.Local%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	length := int64(w)
	e := s.m[k.Local]
	if e == nil {
		if len(s.m) >= m.perShard {
			s.evict()
		}
		e = &evidenceEntry{length: length}
		s.m[k.Local] = e
	}
	start := e.start
	e.roll(now, length)
	switch {
	case e.start == start:
	case e.start == start+length: // the next window: the current one becomes the previous
		e.prev, e.cur = e.cur, nil
	default:
		e.prev, e.cur = nil, nil
	}
	e.ensureSet()
	if member != 0 && len(e.cur) < maxDistinct {
		e.cur[member] = struct{}{}
	}
	e.window.cur++
	distinct := int64(len(e.cur))
	for x := range e.prev {
		if _, dup := e.cur[x]; !dup {
			distinct++
		}
	}
	return e.count(now, length), distinct
}

func (e *evidenceEntry) ensureSet() {
	if e.cur == nil {
		e.cur = map[uint64]struct{}{}
	}
}

// evict drops, of up to 8 entries, the one whose window began first.
func (s *evidenceShard) evict() {
	var victim uint64
	oldest, n := int64(1<<63-1), 0
	for k, e := range s.m {
		if e.start < oldest {
			victim, oldest = k, e.start
		}
		if n++; n == 8 {
			break
		}
	}
	delete(s.m, victim)
}

// Sweep drops the entries whose windows are over.
func (m *MemoryEvidence) Sweep(now int64) {
	for i := range m.shard {
		s := &m.shard[i]
		s.mu.Lock()
		for k, e := range s.m {
			if now >= e.start+2*e.length {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

// evidenceScript counts in the current window, adds the member to its
// HyperLogLog, and answers the sliding count and the distinct members of
// the current and previous windows. KEYS: current count, current set,
// previous count, previous set (one hash slot); ARGV: window in ms, the
// member ("" for none), the share of the previous window still covered.
var evidenceScript = redis.NewScript(`
local ttl = tonumber(ARGV[1]) * 2
local c = redis.call("INCR", KEYS[1])
redis.call("PEXPIRE", KEYS[1], ttl)
if ARGV[2] ~= "" then
  redis.call("PFADD", KEYS[2], ARGV[2])
  redis.call("PEXPIRE", KEYS[2], ttl)
end
local p = tonumber(redis.call("GET", KEYS[3]) or "0")
local count = c + math.floor(p * tonumber(ARGV[3]) + 0.5)
return {count, redis.call("PFCOUNT", KEYS[2], KEYS[4])}
`)

// Observe implements Evidence in Redis (HyperLogLog for the distinct
// members, so a node's view is every node's); while Redis cannot be
// reached, per node.
func (r *Redis) Observe(ctx context.Context, k Key, w time.Duration, member uint64, now int64) (int64, int64) {
	length := int64(w)
	idx := now / length
	base := "rampart:ev:{" + hex.EncodeToString(k.Shared[:]) + "}:"
	cur, prev := base+strconv.FormatInt(idx, 10), base+strconv.FormatInt(idx-1, 10)
	m := ""
	if member != 0 {
		m = strconv.FormatUint(member, 36)
	}
	covered := 1 - float64(now-idx*length)/float64(length)
	v, ok := r.runKeys(ctx, evidenceScript, []string{cur + ":n", cur + ":d", prev + ":n", prev + ":d"}, 2, now,
		w.Milliseconds(), m, strconv.FormatFloat(covered, 'f', 4, 64))
	if !ok {
		return r.evidence.Observe(ctx, localKey(k), w, member, now)
	}
	return v[0], v[1]
}

// HashKey is key material hashed as the stores need it: with shared,
// the same on every node.
func HashKey(seed maphash.Seed, b []byte, shared bool) Key { return hashKey(seed, b, shared) }
