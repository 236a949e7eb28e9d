package observe

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestCounters: counters found through the cache count as the vector's
// own, for one and two labels, from many goroutines.
func TestCounters(t *testing.T) {
	two := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "two_total"}, []string{"a", "b"})
	one := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "one_total"}, []string{"policy", "outcome"})
	c2 := &counters{vec: two}
	c1 := &counters{vec: one.MustCurryWith(prometheus.Labels{"policy": "p"}), one: true}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				c2.inc("idp", []string{"accepted", "invalid"}[i%2])
				c1.inc([]string{"allow", "deny"}[i%2], "")
			}
		})
	}
	wg.Wait()
	value := func(c prometheus.Counter) float64 {
		var m dto.Metric
		if err := c.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	for _, tc := range []struct {
		c    prometheus.Counter
		want float64
	}{
		{two.WithLabelValues("idp", "accepted"), 400},
		{two.WithLabelValues("idp", "invalid"), 400},
		{one.WithLabelValues("p", "allow"), 400},
		{one.WithLabelValues("p", "deny"), 400},
	} {
		if got := value(tc.c); got != tc.want {
			t.Errorf("got %v, want %v", got, tc.want)
		}
	}
}

func BenchmarkCounters(b *testing.B) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total"}, []string{"authenticator", "result"})
	c := &counters{vec: vec}
	b.Run("WithLabelValues", func(b *testing.B) {
		for b.Loop() {
			vec.WithLabelValues("idp", "accepted").Inc()
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.inc("idp", "accepted")
		}
	})
}

// TestRouteMetrics: a route's requests count by status from many
// goroutines, each status first seen by several at once.
func TestRouteMetrics(t *testing.T) {
	m := NewMetrics("test", nil)
	r := m.Route("api")
	codes := []int{200, 404, 502, 200, 201}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				r.Observe(codes[i%len(codes)], 0.001)
			}
		})
	}
	wg.Wait()
	for code, want := range map[string]float64{"200": 320, "404": 160, "502": 160, "201": 160} {
		var d dto.Metric
		if err := m.requests.WithLabelValues("api", code).Write(&d); err != nil {
			t.Fatal(err)
		}
		if got := d.GetCounter().GetValue(); got != want {
			t.Errorf("code %s: %v requests, want %v", code, got, want)
		}
	}
}
