// Package ratelimit holds request-rate limits: GCRA (the generic cell
// rate algorithm) over a store of one timestamp per key. GCRA is exact:
// at any time a key has been admitted at most burst + elapsed/interval
// requests, with no window edges to game, and it keeps O(1) state per
// key, the key's theoretical arrival time (TAT).
package ratelimit

import (
	"time"
)

// Limit is one compiled limit's arithmetic.
type Limit struct {
	Interval time.Duration // the spacing of the sustained rate: period / N
	Burst    int64         // requests admitted at once; at least 1
}

// tolerance is how far ahead of now a key's TAT may run: room for
// Burst-1 requests beyond the one the interval allows.
func (l Limit) tolerance() int64 { return int64(l.Interval) * (l.Burst - 1) }

// Result is the outcome of one check.
type Result struct {
	Allowed    bool
	Remaining  int64         // requests that would still be admitted right now
	Reset      time.Duration // until the budget is whole again
	RetryAfter time.Duration // when refused: until one request is admitted
}

// decide applies GCRA at now to a key whose TAT is tat (0: never seen)
// and returns the outcome and the TAT to store.
func (l Limit) decide(tat, now int64) (Result, int64) {
	if tat < now {
		tat = now
	}
	tau, t := l.tolerance(), int64(l.Interval)
	if tat-now > tau {
		// Admitting would run the TAT past the tolerance.
		return Result{RetryAfter: time.Duration(tat - now - tau), Reset: time.Duration(tat - now)}, tat
	}
	next := tat + t
	return Result{Allowed: true, Remaining: (now + tau + t - next) / t, Reset: time.Duration(next - now)}, next
}
