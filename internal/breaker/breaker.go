// Package breaker is a circuit breaker: for each upstream target, and for
// the identity provider endpoints the gateway calls on a request's path.
package breaker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
)

// State is the state of a circuit breaker.
type State int32

// Breaker states.
const (
	Closed State = iota
	Open
	HalfOpen
)

func (s State) String() string {
	return [...]string{"closed", "open", "half-open"}[s]
}

// Breaker is a circuit breaker. Closed, it counts outcomes in
// a fixed window and opens when the failing share reaches FailureRatio
// (after MinRequests). Open, it refuses until OpenFor has passed, then lets
// HalfOpenRequests probes through: all succeed closes it, any failure
// opens it again.
type Breaker struct {
	cfg       config.CircuitBreaker
	state     atomic.Int32
	openUntil atomic.Int64 // unix nanos

	mu          sync.Mutex
	windowStart time.Time
	total, fail int
	probes, ok  int
}

// New returns a closed breaker.
func New(cfg config.CircuitBreaker) *Breaker { return &Breaker{cfg: cfg} }

// State returns the current state.
func (b *Breaker) State() State { return State(b.state.Load()) }

// Ready reports, without changing state, whether Allow could succeed.
func (b *Breaker) Ready(now time.Time) bool {
	switch State(b.state.Load()) {
	case Closed:
		return true
	case Open:
		return now.UnixNano() >= b.openUntil.Load()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.probes < b.cfg.HalfOpenRequests
}

// Allow reports whether a request may go to the target now, taking a
// probe slot when half-open.
func (b *Breaker) Allow(now time.Time) bool {
	if State(b.state.Load()) == Closed {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch State(b.state.Load()) {
	case Closed:
		return true
	case Open:
		if now.UnixNano() < b.openUntil.Load() {
			return false
		}
		b.state.Store(int32(HalfOpen))
		b.probes, b.ok = 0, 0
	}
	if b.probes >= b.cfg.HalfOpenRequests {
		return false
	}
	b.probes++
	return true
}

// OpenUntil is when an open breaker lets probes through again; zero
// when it has never opened.
func (b *Breaker) OpenUntil() time.Time {
	if n := b.openUntil.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Record counts the outcome of one request.
func (b *Breaker) Record(now time.Time, success bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch State(b.state.Load()) {
	case Closed:
		if now.Sub(b.windowStart) >= b.cfg.Window.D() {
			b.windowStart, b.total, b.fail = now, 0, 0
		}
		b.total++
		if !success {
			b.fail++
		}
		if b.total >= b.cfg.MinRequests && float64(b.fail) >= b.cfg.FailureRatio*float64(b.total) && b.fail > 0 {
			b.open(now)
		}
	case HalfOpen:
		if !success {
			b.open(now)
			return
		}
		b.ok++
		if b.ok >= b.cfg.HalfOpenRequests {
			b.state.Store(int32(Closed))
			b.windowStart, b.total, b.fail = now, 0, 0
		}
	}
}

func (b *Breaker) open(now time.Time) {
	b.state.Store(int32(Open))
	b.openUntil.Store(now.Add(b.cfg.OpenFor.D()).UnixNano())
}
