package baseline

import (
	"strings"
	"testing"
	"time"
)

// TestSpikes: a route's usual error rate and latency are learnt; an
// interval far beyond them is reported once, with the numbers; quiet
// intervals are neither judged nor learnt; a spike does not teach the
// baseline that it is normal.
func TestSpikes(t *testing.T) {
	var reports []string
	s := New(Options{Tolerance: 4, MinRequests: 50, Report: func(route, kind, detail string) {
		reports = append(reports, route+" "+kind+": "+detail)
	}})
	r := s.Route("orders")
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	interval := func(requests, errors int, latency time.Duration) {
		for i := range requests {
			status := 200
			if i < errors {
				status = 503
			}
			r.Observe(status, latency)
		}
		now = now.Add(time.Minute)
		s.Tick(now)
	}
	for i := range 40 { // ~2% errors, 20-24 ms
		interval(100, 1+i%3, time.Duration(20+i%5)*time.Millisecond)
	}
	if len(reports) != 0 {
		t.Fatalf("ordinary intervals reported: %v", reports)
	}
	interval(10, 10, time.Second) // too few requests to judge
	interval(100, 40, 22*time.Millisecond)
	if len(reports) != 1 || !strings.Contains(reports[0], "orders error_rate: error rate 40.0% in the last 1m0s (100 requests) against a baseline of 2.") ||
		!strings.Contains(reports[0], "(the last hour)") {
		t.Fatalf("error spike: %v", reports)
	}
	interval(100, 2, 400*time.Millisecond)
	if len(reports) != 2 || !strings.Contains(reports[1], "orders latency: mean latency 400.0 ms") {
		t.Fatalf("latency spike: %v", reports)
	}
	// the spikes were learnt only up to the limit: the same again is
	// still a spike
	interval(100, 40, 22*time.Millisecond)
	if len(reports) != 3 {
		t.Fatalf("a repeated spike: %v", reports)
	}
	// 404s are misses, not errors
	interval(100, 0, 21*time.Millisecond)
	for range 100 {
		r.Observe(404, 21*time.Millisecond)
	}
	now = now.Add(time.Minute)
	s.Tick(now)
	if len(reports) != 3 {
		t.Fatalf("404s reported: %v", reports)
	}
}
