package bots

import (
	"hash/maphash"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Anomaly flags client addresses whose request rate stands out from the
// crowd: above Factor times the median rate of the addresses currently
// active, and above MinRate. Unlike a rate limit it needs no number
// chosen in advance: it follows the traffic the policy actually sees.
//
// Each address's rate is an exponentially decaying count (time constant
// tau = 10s), O(1) per request. The median is recomputed at most once a
// second from a sample of up to 1024 active addresses. Memory is bounded
// like the rate-limit store: at most maxAddrs addresses, the most idle
// of a sample evicted when a shard is full.
type Anomaly struct {
	Factor  float64
	MinRate float64 // requests per second
	seed    maphash.Seed
	shard   [16]anomalyShard
	per     int

	mu       sync.Mutex
	median   float64
	crowd    int // active addresses in the last sample
	medianAt int64
}

// minCrowd is how many active addresses there must be for a median to
// mean anything; with fewer, nobody is anomalous.
const minCrowd = 10

type anomalyShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*ewmaRate
}

type ewmaRate struct {
	r float64 // requests per second, as of t
	t int64
}

const tau = 10 * float64(time.Second)

// at is the rate decayed to now.
func (e *ewmaRate) at(now int64) float64 {
	return e.r * math.Exp(-float64(now-e.t)/tau)
}

// NewAnomaly returns a detector for at most maxAddrs addresses (0: 65536).
func NewAnomaly(factor, minRate float64, maxAddrs int) *Anomaly {
	if maxAddrs <= 0 {
		maxAddrs = 65536
	}
	a := &Anomaly{Factor: factor, MinRate: minRate, seed: maphash.MakeSeed(), per: max(maxAddrs/16, 1)}
	for i := range a.shard {
		a.shard[i].m = map[netip.Addr]*ewmaRate{}
	}
	return a
}

// Observe counts one request from ip at now and reports whether ip's
// rate is anomalous, with the rate and the median it was compared to.
func (a *Anomaly) Observe(ip netip.Addr, now int64) (anomalous bool, rate, median float64) {
	s := &a.shard[maphash.Comparable(a.seed, ip)%uint64(len(a.shard))]
	s.mu.Lock()
	e := s.m[ip]
	if e == nil {
		if len(s.m) >= a.per {
			a.evict(s, now)
		}
		e = &ewmaRate{t: now}
		s.m[ip] = e
	}
	// Decay, then add one request's worth: a steady n per second settles
	// at n.
	e.r = e.at(now) + float64(time.Second)/tau
	e.t = now
	rate = e.r
	s.mu.Unlock()
	median, crowd := a.currentMedian(now)
	return crowd >= minCrowd && rate > a.MinRate && rate > a.Factor*median, rate, median
}

func (a *Anomaly) evict(s *anomalyShard, now int64) {
	var victim netip.Addr
	lowest, n := math.Inf(1), 0
	for ip, e := range s.m {
		if r := e.at(now); r < lowest {
			victim, lowest = ip, r
		}
		if n++; n == 8 {
			break
		}
	}
	delete(s.m, victim)
}

// currentMedian returns the median rate of active addresses, recomputed
// at most once a second.
func (a *Anomaly) currentMedian(now int64) (float64, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now-a.medianAt < int64(time.Second) {
		return a.median, a.crowd
	}
	a.medianAt = now
	sample := make([]float64, 0, 1024)
	for i := range a.shard {
		s := &a.shard[i]
		s.mu.Lock()
		for ip, e := range s.m {
			r := e.at(now)
			if r < 0.01 { // idle for about a minute: no longer active
				delete(s.m, ip)
				continue
			}
			if len(sample) < cap(sample) {
				sample = append(sample, r)
			}
		}
		s.mu.Unlock()
	}
	a.crowd = len(sample)
	if len(sample) == 0 {
		a.median = 0
		return 0, 0
	}
	slices.Sort(sample)
	a.median = sample[len(sample)/2]
	return a.median, a.crowd
}
