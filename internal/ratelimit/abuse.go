package ratelimit

import (
	"context"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MemoryAbuse is per-node graduated-response state, bounded like Memory:
// an entry is dropped once its window, ban and ban memory are all over,
// and a full shard makes room by evicting, of a sample, the entry that
// expires first. A flood of distinct keys can cost a quiet key its
// offence count, never the gateway its memory, and never lift a ban
// early (entries with a running ban expire last).
type MemoryAbuse struct {
	perShard int
	shard    [shards]abuseShard
}

type abuseShard struct {
	mu sync.Mutex
	m  map[uint64]*abuseEntry
}

type abuseEntry struct {
	window
	until   int64 // ban end, unix ns
	bans    int64
	expires int64 // when the entry is worth nothing
	policy  string
	subject string
}

// NewMemoryAbuse returns state for at most maxKeys keys (0: DefaultMaxKeys/4).
func NewMemoryAbuse(maxKeys int) *MemoryAbuse {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys / 4
	}
	m := &MemoryAbuse{perShard: max(maxKeys/shards, 1)}
	for i := range m.shard {
		m.shard[i].m = map[uint64]*abuseEntry{}
	}
	return m
}

// Shared implements Abuse.
func (m *MemoryAbuse) Shared() bool { return false }

// Standing implements Abuse.
func (m *MemoryAbuse) Standing(ctx context.Context, k Key, g *Graduation, now int64) Standing {
	s := &m.shard[k.Local%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k.Local]
	if e == nil {
		return Standing{}
	}
	length := int64(g.Window)
	e.roll(now, length)
	return Standing{Offences: e.count(now, length), BannedUntil: e.until, Bans: e.bans}
}

// Offend implements Abuse.
func (m *MemoryAbuse) Offend(ctx context.Context, k Key, g *Graduation, subject string, now int64) (Standing, bool) {
	s := &m.shard[k.Local%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k.Local]
	if e == nil {
		if len(s.m) >= m.perShard {
			evictEarliest(s.m, func(e *abuseEntry) int64 { return e.expires })
		}
		e = &abuseEntry{}
		s.m[k.Local] = e
	}
	e.policy, e.subject = g.Policy, subject
	length := int64(g.Window)
	e.roll(now, length)
	e.cur++
	if e.bans > 0 && now > e.until+int64(g.Forget) {
		e.bans = 0
	}
	n := e.count(now, length)
	banned := g.BanAt > 0 && n >= g.BanAt && e.until <= now
	if banned {
		e.until = now + int64(g.period(e.bans))
		e.bans++
		e.window = window{start: e.start} // a ban wipes the slate: after it, levels start again
		n = 0
	}
	e.expires = max(e.start+2*length, e.until)
	if e.bans > 0 {
		e.expires = max(e.expires, e.until+int64(g.Forget))
	}
	return Standing{Offences: n, BannedUntil: e.until, Bans: e.bans}, banned
}

// Bans implements Abuse.
func (m *MemoryAbuse) Bans(ctx context.Context, now int64) ([]Ban, error) {
	var out []Ban
	for i := range m.shard {
		s := &m.shard[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.until > now {
				out = append(out, Ban{ID: localID(k), Policy: e.policy, Subject: e.subject, Until: time.Unix(0, e.until).UTC(), Count: e.bans})
			}
		}
		s.mu.Unlock()
	}
	sortBans(out)
	return out, nil
}

// Lift implements Abuse.
func (m *MemoryAbuse) Lift(ctx context.Context, id string, now int64) (bool, error) {
	k, err := strconv.ParseUint(id, 16, 64)
	if err != nil || len(id) != 16 {
		return false, nil
	}
	s := &m.shard[k%shards]
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil || e.until <= now {
		return false, nil
	}
	// The ban ends now, and the ban count stays: lifting a ban is mercy,
	// not amnesty, and the next ban is still the longer one.
	e.until, e.window = now, window{}
	return true, nil
}

// Sweep drops entries that are worth nothing.
func (m *MemoryAbuse) Sweep(now int64) {
	for i := range m.shard {
		s := &m.shard[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.expires <= now {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}

func localID(k uint64) string { return fmt.Sprintf("%016x", k) }

func sortBans(b []Ban) {
	slices.SortFunc(b, func(x, y Ban) int { return x.Until.Compare(y.Until) })
}

// Abuse state in Redis: one hash per key, and a sorted set of the banned
// keys by ban end, so bans can be listed without a scan. Every key has
// the {rampart:abuse} hash tag, so on a cluster they share a slot and a
// script may touch the hash and the set together.
const (
	abusePrefix = "{rampart:abuse}:k:"
	abuseBans   = "{rampart:abuse}:bans"
)

// offendScript records an offence: the sliding window as in window, on
// times in milliseconds (math.floor(x + 0.5) rounds as math.Round for
// the non-negative counts here). Returns {offences, banned_until_ms, bans, banned}.
var offendScript = redis.NewScript(`
local now, w, banAt, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'ws', 'p', 'c', 'until', 'bans')
local ws, p, c = tonumber(v[1] or 0), tonumber(v[2] or 0), tonumber(v[3] or 0)
local untl, bans = tonumber(v[4] or 0), tonumber(v[5] or 0)
if ws == 0 or now >= ws + 2 * w or now < ws then ws, p, c = now, 0, 0
elseif now >= ws + w then ws, p, c = ws + w, c, 0 end
c = c + 1
if bans > 0 and now > untl + forget then bans = 0 end
local n = math.floor(p * (1 - (now - ws) / w) + 0.5) + c
local banned = 0
if banAt > 0 and n >= banAt and untl <= now then
  local periods = {}
  for i = 8, #ARGV do periods[#periods + 1] = tonumber(ARGV[i]) end
  untl = now + periods[math.min(bans + 1, #periods)]
  bans, p, c, n, banned = bans + 1, 0, 0, 0, 1
  redis.call('ZADD', KEYS[2], untl, ARGV[5])
end
redis.call('HSET', KEYS[1], 'ws', ws, 'p', p, 'c', c, 'until', untl, 'bans', bans, 'policy', ARGV[6], 'subject', ARGV[7])
local expires = math.max(ws + 2 * w, untl)
if bans > 0 then expires = math.max(expires, untl + forget) end
redis.call('PEXPIREAT', KEYS[1], expires)
return {n, untl, bans, banned}
`)

// standingScript reads a key's standing. Returns {offences, banned_until_ms, bans}.
var standingScript = redis.NewScript(`
local now, w = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'ws', 'p', 'c', 'until', 'bans')
local ws, p, c = tonumber(v[1] or 0), tonumber(v[2] or 0), tonumber(v[3] or 0)
local untl, bans = tonumber(v[4] or 0), tonumber(v[5] or 0)
if ws == 0 or now >= ws + 2 * w or now < ws then p, c, ws = 0, 0, now
elseif now >= ws + w then ws, p, c = ws + w, c, 0 end
return {math.floor(p * (1 - (now - ws) / w) + 0.5) + c, untl, bans}
`)

// liftScript ends a ban now and clears the offences; the ban count stays.
var liftScript = redis.NewScript(`
local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or 0)
redis.call('ZREM', KEYS[2], ARGV[1])
if untl <= tonumber(ARGV[2]) then return {0} end
redis.call('HSET', KEYS[1], 'until', ARGV[2], 'p', 0, 'c', 0)
return {1}
`)

// abuseFallback is the per-node state used while Redis cannot be asked
// (on_state_error local or deny; allow forgoes the graduated response).
func (r *Redis) abuseFallback() Abuse {
	if r.onError == FailOpen {
		return nil
	}
	return r.abuse
}

// Standing implements Abuse in Redis, so a ban holds on every node.
func (r *Redis) Standing(ctx context.Context, k Key, g *Graduation, now int64) Standing {
	id := hex.EncodeToString(k.Shared[:])
	v, ok := r.runKeys(ctx, standingScript, []string{abusePrefix + id}, 3, now, now/1e6, max(int64(g.Window/time.Millisecond), 1))
	if !ok {
		if fb := r.abuseFallback(); fb != nil {
			return fb.Standing(ctx, localKey(k), g, now)
		}
		return Standing{}
	}
	return Standing{Offences: v[0], BannedUntil: v[1] * 1e6, Bans: v[2]}
}

// Offend implements Abuse in Redis.
func (r *Redis) Offend(ctx context.Context, k Key, g *Graduation, subject string, now int64) (Standing, bool) {
	id := hex.EncodeToString(k.Shared[:])
	args := []any{now / 1e6, max(int64(g.Window/time.Millisecond), 1), g.BanAt, int64(g.Forget / time.Millisecond), id, g.Policy, subject}
	for _, p := range g.Periods {
		args = append(args, int64(p/time.Millisecond))
	}
	v, ok := r.runKeys(ctx, offendScript, []string{abusePrefix + id, abuseBans}, 4, now, args...)
	if !ok {
		if fb := r.abuseFallback(); fb != nil {
			return fb.Offend(ctx, localKey(k), g, subject, now)
		}
		return Standing{}, false
	}
	return Standing{Offences: v[0], BannedUntil: v[1] * 1e6, Bans: v[2]}, v[3] == 1
}

// Bans implements Abuse: the bans every node enforces, read from Redis.
func (r *Redis) Bans(ctx context.Context, now int64) ([]Ban, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*r.timeout)
	defer cancel()
	nowMS := strconv.FormatInt(now/1e6, 10)
	if err := r.c.ZRemRangeByScore(ctx, abuseBans, "-inf", nowMS).Err(); err != nil {
		return nil, fmt.Errorf("listing bans in redis: %w", err)
	}
	ids, err := r.c.ZRangeByScore(ctx, abuseBans, &redis.ZRangeBy{Min: "(" + nowMS, Max: "+inf", Count: 10000}).Result()
	if err != nil {
		return nil, fmt.Errorf("listing bans in redis: %w", err)
	}
	out := make([]Ban, 0, len(ids))
	for _, id := range ids {
		v, err := r.c.HMGet(ctx, abusePrefix+id, "policy", "subject", "until", "bans").Result()
		if err != nil {
			return nil, fmt.Errorf("listing bans in redis: %w", err)
		}
		b := Ban{ID: id}
		b.Policy, _ = v[0].(string)
		b.Subject, _ = v[1].(string)
		if s, ok := v[2].(string); ok {
			ms, _ := strconv.ParseInt(s, 10, 64)
			b.Until = time.UnixMilli(ms).UTC()
		}
		if s, ok := v[3].(string); ok {
			b.Count, _ = strconv.ParseInt(s, 10, 64)
		}
		out = append(out, b)
	}
	sortBans(out)
	return out, nil
}

// Lift implements Abuse in Redis.
func (r *Redis) Lift(ctx context.Context, id string, now int64) (bool, error) {
	if _, err := hex.DecodeString(id); err != nil || len(id) != 32 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*r.timeout)
	defer cancel()
	v, err := liftScript.Run(ctx, r.c, []string{abusePrefix + id, abuseBans}, id, now/1e6).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("lifting a ban in redis: %w", err)
	}
	return len(v) == 1 && v[0] == 1, nil
}

// Once records key as used until ttl passes, and reports whether it was
// unused: the replay guard of solved bot challenges. The memory form
// is per node; Redis holds it for every node.
type Once interface {
	Once(ctx context.Context, key string, ttl time.Duration, now int64) bool
}

// MemoryOnce is Once per node, bounded: when full, the entry that
// expires first of a sample makes room.
type MemoryOnce struct {
	mu  sync.Mutex
	m   map[uint64]int64
	max int
	h   maphash.Seed
}

// NewMemoryOnce returns a Once for at most maxKeys live keys.
func NewMemoryOnce(maxKeys int) *MemoryOnce {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys / 4
	}
	return &MemoryOnce{m: map[uint64]int64{}, max: maxKeys, h: maphash.MakeSeed()}
}

// Once implements Once.
func (o *MemoryOnce) Once(ctx context.Context, key string, ttl time.Duration, now int64) bool {
	k := maphash.String(o.h, key)
	o.mu.Lock()
	defer o.mu.Unlock()
	if exp, ok := o.m[k]; ok && exp > now {
		return false
	}
	if len(o.m) >= o.max {
		evictEarliest(o.m, tatOf)
	}
	o.m[k] = now + int64(ttl)
	return true
}

// Sweep drops expired keys.
func (o *MemoryOnce) Sweep(now int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k, exp := range o.m {
		if exp <= now {
			delete(o.m, k)
		}
	}
}

// Once implements Once in Redis (SET NX with an expiry). When Redis
// cannot be asked, the per-node memory stands in (whatever
// on_state_error says: refusing every solved challenge would lock out
// every browser).
func (r *Redis) Once(ctx context.Context, key string, ttl time.Duration, now int64) bool {
	if r.up(now) {
		cctx, cancel := context.WithTimeout(ctx, r.timeout)
		ok, err := r.c.SetNX(cctx, "rampart:once:"+key, 1, ttl).Result()
		cancel()
		if err == nil {
			return ok
		}
		r.failed(ctx, now, "rampart:once:", err)
	}
	return r.once.Once(ctx, key, ttl, now)
}
