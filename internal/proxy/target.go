// Package proxy forwards requests to upstream pools: balancers, active and
// passive health, per-target circuit breakers, retries under a budget,
// streaming in both directions, and connection upgrades.
package proxy

import (
	"net/url"
	"sync/atomic"
	"time"

	"github.com/rampart-gw/rampart/internal/breaker"
	"github.com/rampart-gw/rampart/internal/config"
)

// Target is one backend of a pool. Its state is shared by every request
// and survives reloads that keep the pool's definition.
type Target struct {
	URL    *url.URL
	Weight int

	inFlight    atomic.Int64
	healthy     atomic.Bool  // active health; true until a check fails
	ejectUntil  atomic.Int64 // passive health: unix nanos
	ejections   atomic.Int32 // consecutive ejections, for backoff
	consecFails atomic.Int32
	breaker     *breaker.Breaker // nil when not configured
	passive     *config.PassiveCheck
	counts      attemptOutcomes // the attemptOutcomes that count as passive failures
}

// attemptOutcome is how one attempt at a target ended, for passive health.
type attemptOutcome uint8

const (
	succeeded     attemptOutcome = 0
	connectFailed attemptOutcome = 1 << iota // nothing reached the target
	errored                                  // any other transport error
	status5xx                                // it answered with a 5xx
)

// attemptOutcomes is a set of attemptOutcome bits.
type attemptOutcomes uint8

func passiveCounts(p *config.PassiveCheck) attemptOutcomes {
	if p == nil || p.Disabled {
		return 0
	}
	var o attemptOutcomes
	for _, on := range p.On {
		switch on {
		case "connect_failure":
			o |= attemptOutcomes(connectFailed)
		case "error":
			o |= attemptOutcomes(connectFailed | errored)
		case "5xx":
			o |= attemptOutcomes(status5xx)
		}
	}
	return o
}

func newTarget(t config.Target, u *config.Upstream) (*Target, error) {
	parsed, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	parsed.Path = ""
	tg := &Target{URL: parsed, Weight: t.Weight, passive: u.HealthCheck.Passive, counts: passiveCounts(u.HealthCheck.Passive)}
	if u.CircuitBreaker != nil {
		tg.breaker = breaker.New(*u.CircuitBreaker)
	}
	tg.healthy.Store(true)
	return tg, nil
}

// Available reports whether the target may be picked: healthy, not
// ejected, and its breaker not open.
func (t *Target) Available(now time.Time) bool {
	return t.healthy.Load() && now.UnixNano() >= t.ejectUntil.Load() && (t.breaker == nil || t.breaker.Ready(now))
}

// Healthy reports the active health state and ejection, for metrics.
func (t *Target) Healthy(now time.Time) bool {
	return t.healthy.Load() && now.UnixNano() >= t.ejectUntil.Load()
}

// InFlight returns the requests in flight to the target.
func (t *Target) InFlight() int64 { return t.inFlight.Load() }

// report records the attemptOutcome of one attempt for passive health and the
// breaker. It returns true when this failure ejected the target.
//
// One outage is one ejection: failures reported while the target is
// ejected are those of attempts already in flight when it was, and do
// not count (they used to eject it again, doubling the period each
// time, so a one-second outage kept a target out for half a minute).
// The period doubles only when the target fails again after coming
// back, and resets at its first success.
func (t *Target) report(now time.Time, o attemptOutcome) (ejected bool) {
	if t.breaker != nil {
		t.breaker.Record(now, o == succeeded)
	}
	if o == succeeded || t.counts&attemptOutcomes(o) == 0 {
		if t.consecFails.Load() != 0 {
			t.consecFails.Store(0)
		}
		if o == succeeded && t.ejections.Load() != 0 && now.UnixNano() >= t.ejectUntil.Load() {
			t.ejections.Store(0)
		}
		return false
	}
	p := t.passive
	if now.UnixNano() < t.ejectUntil.Load() {
		return false // ejected already: a straggler of the same outage
	}
	if int(t.consecFails.Add(1)) < p.ConsecutiveFailures {
		return false
	}
	t.consecFails.Store(0)
	n := t.ejections.Add(1)
	d := p.EjectFor.D() << min(n-1, 16)
	if d > p.MaxEjectFor.D() || d <= 0 {
		d = p.MaxEjectFor.D()
	}
	t.ejectUntil.Store(now.Add(d).UnixNano())
	return true
}

// readmit ends a passive ejection: an active check passed.
func (t *Target) readmit() bool {
	if t.ejectUntil.Load() == 0 {
		return false
	}
	t.ejectUntil.Store(0)
	t.ejections.Store(0)
	t.consecFails.Store(0)
	return true
}

// availableAt returns when an unavailable target may take traffic again,
// for Retry-After; zero if unknown.
func (t *Target) availableAt() time.Time {
	until := t.ejectUntil.Load()
	if t.breaker != nil {
		if o := t.breaker.OpenUntil(); !o.IsZero() {
			until = max(until, o.UnixNano())
		}
	}
	if until == 0 {
		return time.Time{}
	}
	return time.Unix(0, until)
}
