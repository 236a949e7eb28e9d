package ratelimit

import (
	"context"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// TestExactness: at a steady 2x the limit, what is admitted over a run is
// limit x time + burst, within 2%.
func TestExactness(t *testing.T) {
	for _, tc := range []struct {
		n     int64
		per   time.Duration
		burst int64
		run   time.Duration
	}{
		{100, time.Second, 1, 60 * time.Second},
		{100, time.Second, 50, 60 * time.Second},
		{1000, time.Minute, 100, time.Hour},
		{7, time.Second, 3, 10 * time.Minute},
		{5000, time.Second, 1, 10 * time.Second},
	} {
		l := Limit{Interval: tc.per / time.Duration(tc.n), Burst: tc.burst}
		m := NewMemory(0)
		step := l.Interval / 2 // twice the rate
		var admitted int64
		start := time.Unix(1_800_000_000, 0).UnixNano()
		for now := start; now < start+int64(tc.run); now += int64(step) {
			if m.Take(context.Background(), Key{Local: 42}, l, now).Allowed {
				admitted++
			}
		}
		want := float64(tc.n)*tc.run.Seconds()/tc.per.Seconds() + float64(tc.burst)
		if math.Abs(float64(admitted)-want)/want > 0.02 {
			t.Errorf("%d/%v burst %d over %v: admitted %d, want %.0f ±2%%", tc.n, tc.per, tc.burst, tc.run, admitted, want)
		}
	}
}

func TestResult(t *testing.T) {
	l := Limit{Interval: 100 * time.Millisecond, Burst: 3} // 10/s, burst 3
	m := NewMemory(0)
	now := time.Unix(1_800_000_000, 0).UnixNano()
	for i, want := range []int64{2, 1, 0} {
		r := m.Take(context.Background(), Key{Local: 1}, l, now)
		if !r.Allowed || r.Remaining != want {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i, r, want)
		}
	}
	r := m.Take(context.Background(), Key{Local: 1}, l, now)
	if r.Allowed || r.RetryAfter != 100*time.Millisecond || r.Reset != 300*time.Millisecond {
		t.Fatalf("over the burst: %+v", r)
	}
	if r := m.Take(context.Background(), Key{Local: 1}, l, now+int64(100*time.Millisecond)); !r.Allowed {
		t.Fatalf("after one interval: %+v", r)
	}
	if r := m.Take(context.Background(), Key{Local: 2}, l, now); !r.Allowed || r.Remaining != 2 {
		t.Fatalf("another key: %+v", r)
	}
}

// TestMemoryBounded: a flood of distinct keys never grows the store past
// its bound, and a sweep returns idle keys.
func TestMemoryBounded(t *testing.T) {
	m := NewMemory(6400)
	l := Limit{Interval: time.Second, Burst: 1}
	now := time.Unix(1_800_000_000, 0).UnixNano()
	for k := range uint64(100_000) {
		m.Take(context.Background(), Key{Local: k * 0x9E3779B97F4A7C15}, l, now)
	}
	if n := m.Len(); n > 6400 {
		t.Fatalf("%d keys held, bound 6400", n)
	}
	m.Sweep(now + int64(2*time.Second))
	if n := m.Len(); n != 0 {
		t.Fatalf("%d keys after a sweep past every TAT", n)
	}
}

func rule(t testing.TB, policy, key, route string) *Rule {
	t.Helper()
	var rl config.RateLimit
	rl.Key, rl.Rate, rl.Burst = key, config.Rate{N: 10, Per: time.Second}, 1
	r, err := Compile(policy, 0, &rl, route)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestKeys: a policy-scoped limit is one budget across routes, a
// route-scoped one a budget per route; keys separate what they name.
func TestKeys(t *testing.T) {
	seed := maphash.MakeSeed()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Tenant", "acme")
	st := func(consumer, ip, route string) *reqctx.State {
		s := &reqctx.State{}
		s.Consumer, s.AccessRecord.ClientIP, s.Route = consumer, ip, route
		return s
	}
	key := func(r *Rule, s *reqctx.State) uint64 { return r.key(seed, req, s, false).Local }
	byConsumer := rule(t, "api", "consumer", "")
	if key(byConsumer, st("a", "1.1.1.1", "orders")) != key(byConsumer, st("a", "2.2.2.2", "billing")) {
		t.Error("a policy-scoped consumer limit is not one budget across routes and addresses")
	}
	if key(byConsumer, st("a", "", "")) == key(byConsumer, st("b", "", "")) {
		t.Error("two consumers share a budget")
	}
	perRoute := rule(t, "api", "consumer", "orders")
	if key(perRoute, st("a", "", "orders")) == key(rule(t, "api", "consumer", "billing"), st("a", "", "billing")) {
		t.Error("route-scoped limits of two routes share a budget")
	}
	if key(byConsumer, st("a", "", "")) == key(rule(t, "other", "consumer", ""), st("a", "", "")) {
		t.Error("two policies' limits share a budget")
	}
	combo := rule(t, "api", "consumer+header:X-Tenant", "")
	other := httptest.NewRequest("GET", "/", nil)
	other.Header.Set("X-Tenant", "globex")
	if combo.key(seed, req, st("a", "", ""), true) == combo.key(seed, other, st("a", "", ""), true) {
		t.Error("consumer+header does not separate header values")
	}
	if !rule(t, "api", "ip+route", "").PreAuth() || rule(t, "api", "consumer", "").PreAuth() {
		t.Error("PreAuth")
	}
}

// BenchmarkCheck is one limit check as the stage makes it: the key hash
// and the store's Take.
func BenchmarkCheck(b *testing.B) {
	seed := maphash.MakeSeed()
	r := rule(b, "api", "consumer+route", "")
	req := httptest.NewRequest("GET", "/", nil)
	s := &reqctx.State{}
	s.Consumer, s.Route = "acme-mobile", "orders"
	m := NewMemory(0)
	l := Limit{Interval: time.Nanosecond, Burst: 1}
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for b.Loop() {
		now += 10
		if !m.Take(context.Background(), r.key(seed, req, s, false), l, now).Allowed {
			b.Fatal("refused")
		}
	}
}

func TestPolicyWindow(t *testing.T) {
	for _, c := range []struct {
		n     int64
		per   time.Duration
		burst int64
		q, w  int64
	}{
		{5, time.Second, 10, 10, 2}, // the bucket: 10 at once, whole again in 2s
		{5, time.Second, 1, 5, 1},
		{5, time.Second, 5, 5, 1},
		{600, time.Minute, 1, 600, 60},
		{2, time.Minute, 3, 3, 90},
		{3, time.Second, 10, 10, 4}, // 10/3 s, rounded up
	} {
		r := &Rule{N: c.n, Per: c.per, Limit: Limit{Burst: c.burst}}
		if q, w := r.policyWindow(); q != c.q || w != c.w {
			t.Errorf("%d per %v, burst %d: q=%d;w=%d, want q=%d;w=%d", c.n, c.per, c.burst, q, w, c.q, c.w)
		}
	}
}

// TestStageHeaders: an admitted request carries RateLimit-Policy and the
// tightest enforced limit's RateLimit; a refused one r=0 and Retry-After;
// values are those of the draft's syntax (names quoted as Go quotes).
func TestStageHeaders(t *testing.T) {
	perIP := rule(t, "api", "ip", "")    // 10/s, burst 1
	named := rule(t, "api", "route", "") // the same, another budget
	named.Name, named.quoted = `odd "name"`, ""
	var rl config.RateLimit
	rl.Key, rl.Rate, rl.Burst, rl.Mode = "consumer", config.Rate{N: 1, Per: time.Minute}, 1, "shadow"
	shadow, err := Compile("api", 2, &rl, "")
	if err != nil {
		t.Fatal(err)
	}
	s := NewStage([]*Rule{perIP, named, shadow}, NewMemory(0), maphash.MakeSeed(), nil)
	now := time.Unix(1795000000, 0)
	s.Now = func() time.Time { return now }
	h := s.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/", nil)
		st := &reqctx.State{}
		st.AccessRecord.ClientIP, st.Route, st.Consumer = "192.0.2.1", "orders", "acme"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req.WithContext(reqctx.With(req.Context(), st)))
		return w
	}
	policy := `"ip-10-per-s";q=10;w=1, "odd \"name\"";q=10;w=1`
	w := serve()
	if got := w.Header().Get("RateLimit-Policy"); got != policy {
		t.Errorf("RateLimit-Policy %q, want %q", got, policy)
	}
	if got, want := w.Header().Get("RateLimit"), fmt.Sprintf("%q;r=%d;t=%d", perIP.Name, 0, 1); got != want {
		t.Errorf("RateLimit %q, want %q", got, want)
	}
	w = serve()
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("second request: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if got := w.Header().Get("RateLimit"); !strings.HasSuffix(got, ";r=0;t=1") || w.Header().Get("RateLimit-Policy") != policy {
		t.Errorf("refused: RateLimit %q, RateLimit-Policy %q", got, w.Header().Get("RateLimit-Policy"))
	}
	now = now.Add(time.Second)
	if w := serve(); w.Code != 200 || len(w.Header()["Ratelimit"]) != 1 {
		t.Fatalf("after the interval: %d %v", w.Code, w.Header())
	}
}

// BenchmarkStage is an admitted request through one per-IP limit, with
// its two response headers.
func BenchmarkStage(b *testing.B) {
	var rl config.RateLimit
	rl.Key, rl.Rate, rl.Burst = "ip", config.Rate{N: 1000000, Per: time.Second}, 1000000
	r, err := Compile("api", 0, &rl, "")
	if err != nil {
		b.Fatal(err)
	}
	h := NewStage([]*Rule{r}, NewMemory(0), maphash.MakeSeed(), nil).Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	st := &reqctx.State{}
	st.AccessRecord.ClientIP = "192.0.2.1"
	req = req.WithContext(reqctx.With(req.Context(), st))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		h.ServeHTTP(w, req)
	}
}
