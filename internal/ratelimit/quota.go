package ratelimit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Period returns the calendar period holding t in loc: an hour, a day
// from midnight, or a month from the 1st.
func Period(period string, t time.Time, loc *time.Location) (start, end time.Time) {
	t = t.In(loc)
	switch period {
	case "hour":
		start = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc)
		return start, start.Add(time.Hour)
	case "day":
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 1)
	}
	start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 1, 0)
}

// QuotaCounter counts requests per key and period. Count adds one to
// key's count unless it has reached limit, and returns the count after.
type QuotaCounter interface {
	Count(ctx context.Context, k Key, limit int64, end time.Time, now time.Time) (count int64, ok bool)
	// Used returns key's count without counting.
	Used(ctx context.Context, k Key) (int64, error)
	Shared() bool
}

// MemoryQuotas counts per node. Counts live as long as their period and
// are lost when the gateway restarts: persisted quotas need state
// driver redis.
type MemoryQuotas struct {
	mu     sync.Mutex
	counts map[uint64]quotaEntry
	max    int
}

type quotaEntry struct {
	count int64
	end   int64
}

// NewMemoryQuotas returns counters for at most maxKeys keys.
func NewMemoryQuotas(maxKeys int) *MemoryQuotas {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &MemoryQuotas{counts: map[uint64]quotaEntry{}, max: maxKeys}
}

// Shared implements QuotaCounter: counts are this node's.
func (m *MemoryQuotas) Shared() bool { return false }

// Count implements QuotaCounter.
func (m *MemoryQuotas) Count(ctx context.Context, k Key, limit int64, end, now time.Time) (int64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.counts[k.Local]
	if !ok && len(m.counts) >= m.max {
		// The entry whose period ends first, of a sample, makes room.
		evictEarliest(m.counts, func(e quotaEntry) int64 { return e.end })
	}
	if e.count >= limit {
		return e.count, false
	}
	e.count++
	e.end = end.UnixNano()
	m.counts[k.Local] = e
	return e.count, true
}

// Used implements QuotaCounter.
func (m *MemoryQuotas) Used(ctx context.Context, k Key) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counts[k.Local].count, nil
}

// Sweep drops counts of ended periods.
func (m *MemoryQuotas) Sweep(now int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.counts {
		if e.end <= now {
			delete(m.counts, k)
		}
	}
}

// quotaScript counts in Redis: the key holds the period's count and
// expires a minute after the period ends.
var quotaScript = redis.NewScript(`
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c >= tonumber(ARGV[1]) then return {0, c} end
c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return {1, c}
`)

// Count implements QuotaCounter in Redis, so a quota holds across nodes
// and restarts. When Redis cannot be asked, on_state_error applies as for
// rate limits (local: count on this node meanwhile).
func (r *Redis) Count(ctx context.Context, k Key, limit int64, end, now time.Time) (int64, bool) {
	v, ok := r.run(ctx, quotaScript, "rampart:quota:", k, 2, now.UnixNano(), limit, end.Add(time.Minute).UnixMilli())
	if ok {
		return v[1], v[0] == 1
	}
	if ctx.Err() != nil {
		return limit, false // the request has ended: nothing to admit
	}
	switch r.onError {
	case FailOpen:
		return 0, true
	case FailClosed:
		return limit, false
	}
	return r.quotas.Count(ctx, localKey(k), limit, end, now)
}

// Used implements QuotaCounter in Redis.
func (r *Redis) Used(ctx context.Context, k Key) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*r.timeout)
	defer cancel()
	n, err := r.c.Get(ctx, "rampart:quota:"+hex.EncodeToString(k.Shared[:])).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading a quota in redis: %w", err)
	}
	return n, nil
}

// QuotaUsage is one quota's state for a consumer, as the admin API shows it.
type QuotaUsage struct {
	Policy    string    `json:"policy"`
	Limit     int64     `json:"limit"`
	Period    string    `json:"period"`
	Used      int64     `json:"used"`
	Remaining int64     `json:"remaining"`
	ResetsAt  time.Time `json:"resets_at"`
}

// PerConsumer reports whether the quota is keyed by consumer alone, so
// a consumer's usage can be read without a request.
func (s *QuotaStage) PerConsumer() bool { return len(s.parts) == 1 && s.parts[0].kind == partConsumer }

// Usage reads consumer's usage of the quota in the current period.
func (s *QuotaStage) Usage(ctx context.Context, policy, consumer string) (QuotaUsage, error) {
	now := s.Now()
	start, end := Period(s.period, now, s.loc)
	st := &reqctx.State{}
	st.Consumer = consumer
	used, err := s.Counter.Used(ctx, s.periodKey(&http.Request{Header: http.Header{}}, st, start))
	return QuotaUsage{Policy: policy, Limit: s.Limit, Period: s.period, Used: used, Remaining: max(s.Limit-used, 0), ResetsAt: end.UTC()}, err
}

// QuotaStage enforces a policy's quota.
type QuotaStage struct {
	Counter QuotaCounter
	Seed    maphash.Seed
	Limit   int64
	period  string
	loc     *time.Location
	id      string
	parts   []part
	shared  bool
	Now     func() time.Time
	Count   func(outcome string) // admitted, refused; may be nil
}

// NewQuotaStage compiles a policy's quota section.
func NewQuotaStage(policy string, q *config.Quota, counter QuotaCounter, seed maphash.Seed, count func(string)) (*QuotaStage, error) {
	parts, err := parseKey(q.Key)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(q.TimeZone)
	if err != nil {
		return nil, err
	}
	return &QuotaStage{Counter: counter, Seed: seed, Limit: q.Limit, period: q.Period, loc: loc, parts: parts, shared: counter.Shared(),
		id: fmt.Sprintf("%s\x00quota\x00%s\x00%s\x00%s", policy, q.Key, q.Period, q.TimeZone), Now: time.Now, Count: count}, nil
}

// periodKey is the key of the request's values in the period that
// starts at start: each period counts under a key of its own.
func (s *QuotaStage) periodKey(r *http.Request, st *reqctx.State, start time.Time) Key {
	var buf [512]byte
	b := appendKey(buf[:0], s.id, s.parts, r, st)
	b = strconv.AppendInt(append(b, 0), start.Unix(), 10)
	return hashKey(s.Seed, b, s.shared)
}

// Name names the stage in traces and docs/architecture.md (stage 11, quotas (a rate limit span)).
func (s *QuotaStage) Name() string { return "rate_limit" }

// Wrap implements the gateway's Stage.
func (s *QuotaStage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		now := s.Now()
		start, end := Period(s.period, now, s.loc)
		count, ok := s.Counter.Count(r.Context(), s.periodKey(r, st, start), s.Limit, end, now)
		reset := strconv.FormatInt(seconds(end.Sub(now)), 10)
		h := w.Header()
		item := fmt.Sprintf(`"quota";q=%d;w=%d`, s.Limit, int64(end.Sub(start)/time.Second))
		if p := h.Get("RateLimit-Policy"); p != "" {
			item = p + ", " + item
		}
		h.Set("RateLimit-Policy", item)
		if !ok {
			s.count("refused")
			h.Set("RateLimit", `"quota";r=0;t=`+reset)
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.QuotaExceeded, Reason: "quota_exceeded", Stage: "quota", Rule: "quota",
				Detail: "The quota of " + strconv.FormatInt(s.Limit, 10) + " requests per " + s.period + " is used up. It renews in " + reset +
					" s; ask the API operator for a larger quota if you need one sooner.", Header: map[string]string{"Retry-After": reset}})
			return
		}
		s.count("admitted")
		if h.Get("RateLimit") == "" {
			h.Set("RateLimit", `"quota";r=`+strconv.FormatInt(s.Limit-count, 10)+`;t=`+reset)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *QuotaStage) count(outcome string) {
	if s.Count != nil {
		s.Count(outcome)
	}
}
