// Package shed is adaptive load shedding: a concurrency limit per
// upstream that follows the upstream's latency, and admits by priority
// under it, so that when the upstream slows down the gateway sends it
// less work instead of queueing more, and sheds the least important
// requests first.
//
// The limit is AIMD on latency. Every interval, the median latency of
// the requests that completed is compared with a baseline, the lowest
// interval median seen over the last baseline window (the upstream's
// latency when it is not queueing). Above tolerance x baseline, the
// limit is cut by the ratio of the two, between a tenth and a half
// (multiplicative decrease, in proportion to the gradient); at or below it,
// and when the limit was what held requests back, the limit grows by
// its square root (additive increase). The baseline is a windowed
// minimum, so it follows an upstream that became slower for good within
// one window, and a congested period cannot raise it.
package shed

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Priority orders requests for shedding: Low goes first.
type Priority uint8

// The priorities, lowest first.
const (
	Low Priority = iota
	Normal
	High
	Critical
)

// ParsePriority reads critical, high, normal or low.
func ParsePriority(s string) (Priority, bool) {
	switch s {
	case "critical":
		return Critical, true
	case "high":
		return High, true
	case "normal":
		return Normal, true
	case "low":
		return Low, true
	}
	return Normal, false
}

func (p Priority) String() string {
	return [...]string{"low", "normal", "high", "critical"}[p]
}

// share is the part of the limit each priority may fill: a low-priority
// request is admitted while fewer than half the limit are in flight, a
// critical one up to the whole limit. The rest is headroom kept for the
// more important.
var share = [...]float64{Low: 0.5, Normal: 0.75, High: 0.9, Critical: 1}

// Options tune a Limiter.
type Options struct {
	Min, Max, Initial int           // bounds and start of the limit
	Tolerance         float64       // latency above Tolerance x baseline is congestion
	Interval          time.Duration // how often the limit is adjusted
	Window            time.Duration // how far back the baseline looks
	// OnAdjust, if set, is told the limit after each adjustment (for a
	// gauge); it runs with the limiter's lock held and must be quick.
	OnAdjust func(limit int)
}

// Limiter is one upstream's adaptive concurrency limit. It is safe for
// concurrent use; Acquire and Release take a mutex for a few
// instructions, and the adjustment every interval sorts at most 64
// samples.
type Limiter struct {
	mu        sync.Mutex
	o         Options
	limit     float64
	inflight  int
	peak      int  // most in flight this interval
	refused   bool // some request was shed this interval
	samples   [64]int64
	n         int
	interval  int64 // start of the current interval, unix ns
	slots     [8]int64
	slot      int
	slotStart int64
	baseline  int64
	now       func() int64
}

// New returns a limiter; zero options take defaults (min 4, max 1000,
// initial 32, tolerance 2, interval 100ms, window 1m).
func New(o Options) *Limiter {
	if o.Min <= 0 {
		o.Min = 4
	}
	if o.Max <= 0 {
		o.Max = 1000
	}
	if o.Initial <= 0 {
		o.Initial = 32
	}
	o.Initial = min(max(o.Initial, o.Min), o.Max)
	if o.Tolerance <= 1 {
		o.Tolerance = 2
	}
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	return &Limiter{o: o, limit: float64(o.Initial), now: func() int64 { return time.Now().UnixNano() }}
}

// Acquire admits a request of priority p, or reports that it is shed.
// An admitted request must call Release.
func (l *Limiter) Acquire(p Priority) bool {
	l.mu.Lock()
	if float64(l.inflight) >= l.limit*share[p] {
		l.refused = true
		l.mu.Unlock()
		return false
	}
	l.inflight++
	l.peak = max(l.peak, l.inflight)
	l.mu.Unlock()
	return true
}

// Release ends an admitted request; latency is its upstream latency, or
// 0 when there is none to learn from (no upstream answer).
func (l *Limiter) Release(latency time.Duration) {
	now := l.now()
	l.mu.Lock()
	l.inflight--
	if latency > 0 && l.n < len(l.samples) {
		l.samples[l.n] = int64(latency)
		l.n++
	}
	if l.interval == 0 {
		l.interval, l.slotStart = now, now
	}
	if now-l.interval >= int64(l.o.Interval) {
		l.adjust(now)
	}
	l.mu.Unlock()
}

// Limit returns the current limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// adjust ends an interval: AIMD on its median latency against the
// baseline. Called with mu held.
func (l *Limiter) adjust(now int64) {
	defer func() { l.interval, l.n, l.peak, l.refused = now, 0, l.inflight, false }()
	if l.n < 5 {
		return // too few to judge; the next interval decides
	}
	s := l.samples[:l.n]
	slices.Sort(s)
	median := s[len(s)/2]
	// The baseline: the lowest median over the window, kept as the
	// minimum of each of 8 slots, the oldest slot dropped as time moves.
	slotLen := int64(l.o.Window) / int64(len(l.slots))
	for now-l.slotStart >= slotLen {
		l.slot = (l.slot + 1) % len(l.slots)
		l.slots[l.slot] = 0
		l.slotStart += slotLen
		if now-l.slotStart >= int64(l.o.Window) { // idle for a whole window
			l.slots, l.slotStart = [8]int64{}, now
		}
	}
	if l.slots[l.slot] == 0 || median < l.slots[l.slot] {
		l.slots[l.slot] = median
	}
	l.baseline = 0
	for _, v := range l.slots {
		if v > 0 && (l.baseline == 0 || v < l.baseline) {
			l.baseline = v
		}
	}
	defer func() {
		if l.o.OnAdjust != nil {
			l.o.OnAdjust(int(l.limit))
		}
	}()
	switch {
	case float64(median) > l.o.Tolerance*float64(l.baseline):
		// Cut in proportion to how far over the latency is (the
		// gradient), between 10% and half per interval.
		cut := min(max(l.o.Tolerance*float64(l.baseline)/float64(median), 0.5), 0.9)
		l.limit = max(l.limit*cut, float64(l.o.Min))
	case l.refused || float64(l.peak) >= l.limit*share[High]:
		// The limit held requests back and latency is fine: probe up.
		l.limit = min(l.limit+max(1, math.Sqrt(l.limit)), float64(l.o.Max))
	}
}

// Baseline returns the latency the limiter currently takes as the
// upstream's uncongested latency.
func (l *Limiter) Baseline() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Duration(l.baseline)
}
