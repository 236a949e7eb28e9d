// Package baseline learns what each route's error rate and latency
// usually are and reports when an interval departs from it: the
// deviation from a baseline that an attack (a scan that errors, a
// payload that slows a backend) or an outage shows before anyone looks.
//
// Each interval (a minute by default) a route's error rate (answers of
// 5xx, and of 4xx other than 404) and mean latency are compared with two
// learnt baselines, each an exponentially weighted mean and variance: the
// route's recent past (about the last hour), and the same hour of the
// day on earlier days, which knows that 03:00 is quiet and 09:00 busy.
// The hour's baseline judges once it has three hours of intervals behind
// it, the recent one before, from its tenth interval on. An interval beyond the mean by more than
// tolerance standard deviations (with a floor, so a flat baseline does
// not fire on noise) is a spike, reported as an event that gives the
// value, the baseline and which one judged.
package baseline

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Options are the detector's settings.
type Options struct {
	Interval    time.Duration // default 1m
	Tolerance   float64       // standard deviations; default 4
	MinRequests int64         // an interval with fewer requests is not judged, nor learnt; default 100
	// Report hears each spike: the route, the kind (error_rate or
	// latency) and what happened.
	Report func(route, kind, detail string)
}

// Set is the routes' baselines; it outlives reloads (a route keeps what
// it learnt while its name stays).
type Set struct {
	o      Options
	mu     sync.Mutex
	routes map[string]*Route
}

// New returns an empty set.
func New(o Options) *Set {
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 4
	}
	if o.MinRequests <= 0 {
		o.MinRequests = 100
	}
	return &Set{o: o, routes: map[string]*Route{}}
}

// Route is one route's counts of the running interval and its baselines.
type Route struct {
	name      string
	requests  atomic.Int64
	errors    atomic.Int64
	latencyNs atomic.Int64
	// baselines, touched only by Tick
	recent      [2]ewma     // error rate, latency (seconds)
	hourOfDay   [24][2]ewma // the same, by the hour of the day
	intervalsIn int
}

// Route returns the route's counters, made on first use.
func (s *Set) Route(name string) *Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.routes[name]
	if r == nil {
		r = &Route{name: name}
		s.routes[name] = r
	}
	return r
}

// Observe counts one answered request.
func (r *Route) Observe(status int, d time.Duration) {
	r.requests.Add(1)
	r.latencyNs.Add(int64(d))
	if status >= 500 || (status >= 400 && status != 404) {
		r.errors.Add(1)
	}
}

// Run judges every interval until stop is closed.
func (s *Set) Run(stop <-chan struct{}) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			s.Tick(now)
		}
	}
}

// Tick ends the running interval of every route: judges it, then
// learns from it.
func (s *Set) Tick(now time.Time) {
	s.mu.Lock()
	routes := make([]*Route, 0, len(s.routes))
	for _, r := range s.routes {
		routes = append(routes, r)
	}
	s.mu.Unlock()
	for _, r := range routes {
		s.tick(r, now)
	}
}

// warmup is how many intervals a route's recent baseline learns before
// it judges.
const warmup = 10

// the kinds of value, their names in events, and the floor of the
// deviation that counts (an error rate of 1 point; 10% of the mean
// latency, at least a millisecond)
var kinds = [2]string{"error_rate", "latency"}

func (s *Set) tick(r *Route, now time.Time) {
	n := r.requests.Swap(0)
	errs, lat := r.errors.Swap(0), r.latencyNs.Swap(0)
	if n < s.o.MinRequests {
		return
	}
	values := [2]float64{float64(errs) / float64(n), time.Duration(lat / n).Seconds()}
	hour := now.Hour()
	for k, v := range values {
		base, which := &r.recent[k], "the last hour"
		if h := &r.hourOfDay[hour][k]; h.n >= 180 {
			base, which = h, fmt.Sprintf("the %02d:00 hour of earlier days", hour)
		}
		if r.intervalsIn >= warmup || base != &r.recent[k] {
			floor := 0.01
			if k == 1 {
				floor = max(base.mean*0.1, 0.001)
			}
			limit := base.mean + s.o.Tolerance*max(math.Sqrt(base.variance), floor)
			if v > limit && s.o.Report != nil {
				s.o.Report(r.name, kinds[k], describe(k, v, n, s.o.Interval, base, which))
			}
			// a spike is learnt only up to the limit: an attack must
			// not teach the baseline that it is normal
			v = min(v, limit)
		}
		r.recent[k].add(v, 60)
		r.hourOfDay[hour][k].add(v, 60)
	}
	r.intervalsIn++
}

func describe(kind int, v float64, n int64, interval time.Duration, b *ewma, which string) string {
	if kind == 0 {
		return fmt.Sprintf("error rate %.1f%% in the last %s (%d requests) against a baseline of %.1f%% ± %.1f%% (%s)",
			100*v, interval, n, 100*b.mean, 100*math.Sqrt(b.variance), which)
	}
	ms := func(s float64) string { return fmt.Sprintf("%.1f ms", 1000*s) }
	return fmt.Sprintf("mean latency %s in the last %s (%d requests) against a baseline of %s ± %s (%s)",
		ms(v), interval, n, ms(b.mean), ms(math.Sqrt(b.variance)), which)
}

// ewma is an exponentially weighted mean and variance; with span s each
// sample weighs about 1/s.
type ewma struct {
	mean, variance float64
	n              int
}

func (e *ewma) add(v float64, span int) {
	e.n++
	if e.n == 1 {
		e.mean = v
		return
	}
	alpha := max(1/float64(span), 1/float64(e.n)) // a plain mean while there is little data
	d := v - e.mean
	e.mean += alpha * d
	e.variance = (1 - alpha) * (e.variance + alpha*d*d)
}
