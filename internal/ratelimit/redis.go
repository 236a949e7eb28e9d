package ratelimit

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is GCRA in Redis: one atomic read-modify-write per check,
// on Redis's clock (so nodes with skewed clocks agree), in microseconds.
// The key expires when its TAT passes: idle keys cost Redis nothing.
//
// Returns {allowed, remaining, reset_us, retry_after_us}.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tau = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tau then
  return {0, 0, tat - now, tat - now - tau}
end
local nxt = tat + interval
redis.call('SET', KEYS[1], nxt, 'PX', math.ceil((nxt - now) / 1000) + 1)
return {1, math.floor((now + tau + interval - nxt) / interval), nxt - now, 0}
`)

// OnError says what a shared store does when Redis cannot be asked.
type OnError string

// The choices of state.on_state_error.
const (
	// FallbackLocal enforces the limit per node meanwhile.
	FallbackLocal OnError = "local"
	// FailOpen admits.
	FailOpen OnError = "allow"
	// FailClosed refuses (429 with a short Retry-After).
	FailClosed OnError = "deny"
)

// Redis is a store shared by every gateway node using the same Redis,
// so that they enforce one limit together.
type Redis struct {
	c        redis.UniversalClient
	timeout  time.Duration
	onError  OnError
	fallback *Memory
	quotas   *MemoryQuotas   // the quota fallback
	abuse    *MemoryAbuse    // the graduated-response fallback
	once     *MemoryOnce     // the challenge replay-guard fallback
	evidence *MemoryEvidence // the attack-correlation fallback
	log      *slog.Logger
	// downUntil (unix ns): after a failure, Redis is left alone for a
	// second instead of costing every request a timeout.
	downUntil atomic.Int64
	failures  func() // counts a failed call; may be nil
}

// RedisOptions configures a Redis store.
type RedisOptions struct {
	Addrs    []string
	Username string
	Password string
	DB       int
	Timeout  time.Duration // one call; default 100ms
	OnError  OnError
	Log      *slog.Logger
	Failures func()
}

// NewRedis returns a store over the Redis at o.Addrs (one address, or
// several for a cluster).
func NewRedis(o RedisOptions) *Redis {
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: o.Addrs, Username: o.Username, Password: o.Password, DB: o.DB,
		DialTimeout: o.Timeout, ReadTimeout: o.Timeout, WriteTimeout: o.Timeout, MaxRetries: -1, PoolSize: 64})
	return &Redis{c: c, timeout: o.Timeout, onError: o.OnError, fallback: NewMemory(0), quotas: NewMemoryQuotas(0), abuse: NewMemoryAbuse(0), once: NewMemoryOnce(0), evidence: NewMemoryEvidence(0), log: o.Log, failures: o.Failures}
}

// Shared implements Store.
func (r *Redis) Shared() bool { return true }

// Close closes the client.
func (r *Redis) Close() error { return r.c.Close() }

// Take applies l to k in Redis; now is used only by the fallback.
func (r *Redis) Take(ctx context.Context, k Key, l Limit, now int64) Result {
	interval := max(int64(l.Interval/time.Microsecond), 1)
	v, ok := r.run(ctx, gcraScript, "rampart:rl:", k, 4, now, interval, l.Burst)
	if !ok {
		if ctx.Err() != nil {
			return Result{RetryAfter: time.Second, Reset: time.Second} // the request has ended: nothing to admit
		}
		switch r.onError {
		case FailOpen:
			return Result{Allowed: true, Remaining: l.Burst - 1, Reset: l.Interval}
		case FailClosed:
			return Result{RetryAfter: time.Second, Reset: time.Second}
		}
		return r.fallback.Take(ctx, localKey(k), l, now) // per node meanwhile
	}
	us := time.Microsecond
	return Result{Allowed: v[0] == 1, Remaining: v[1], Reset: time.Duration(v[2]) * us, RetryAfter: time.Duration(v[3]) * us}
}

// run runs script on the key prefix+k and returns its n integers, or ok
// false when Redis cannot be asked: during the back-off after a failure,
// or on an error, which starts one. ctx is the request's: the call ends
// when the request does, or after the state timeout.
func (r *Redis) run(ctx context.Context, script *redis.Script, prefix string, k Key, n int, now int64, args ...any) (v []int64, ok bool) {
	return r.runKeys(ctx, script, []string{prefix + hex.EncodeToString(k.Shared[:])}, n, now, args...)
}

// runKeys is run on any keys.
func (r *Redis) runKeys(ctx context.Context, script *redis.Script, keys []string, n int, now int64, args ...any) (v []int64, ok bool) {
	if !r.up(now) {
		return nil, false
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v, err := script.Run(cctx, r.c, keys, args...).Int64Slice()
	if err == nil && len(v) != n {
		err = fmt.Errorf("script answered %d values, want %d", len(v), n)
	}
	if err != nil {
		r.failed(ctx, now, keys[0], err)
		return nil, false
	}
	return v, true
}

// up reports whether Redis may be asked: not during the back-off after
// a failure.
func (r *Redis) up(now int64) bool { return now >= r.downUntil.Load() }

// failed starts a back-off: Redis is left alone for a second instead of
// costing every request a timeout. A call that failed because its
// request ended (ctx done: the client went away) says nothing about
// Redis and starts none.
func (r *Redis) failed(ctx context.Context, now int64, key string, err error) {
	if ctx.Err() != nil {
		return
	}
	r.downUntil.Store(now + int64(time.Second))
	if i := strings.LastIndexByte(key, ':'); i > 0 {
		key = key[:i+1] // the prefix, not the hashed key
	}
	r.log.Warn("rate-limit state unavailable", "key", key, "error", err, "on_state_error", string(r.onError))
	if r.failures != nil {
		r.failures()
	}
}

// localKey is k for the per-node fallback, keyed as Redis keys it.
func localKey(k Key) Key {
	var local Key
	for _, b := range k.Shared[:8] {
		local.Local = local.Local<<8 | uint64(b)
	}
	return local
}

// Sweep sweeps the per-node fallbacks.
func (r *Redis) Sweep(now int64) {
	r.fallback.Sweep(now)
	r.quotas.Sweep(now)
	r.abuse.Sweep(now)
	r.once.Sweep(now)
	r.evidence.Sweep(now)
}
