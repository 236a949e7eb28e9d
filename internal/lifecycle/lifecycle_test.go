package lifecycle

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

func at(s string) config.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return config.Time{Time: t}
}

// events collects what the bus hands its sink.
type events struct {
	mu  sync.Mutex
	got []observe.Event
}

func (e *events) Name() string { return "test" }
func (e *events) Write(ev *observe.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, *ev)
	return nil
}
func (e *events) Close() error { return nil }

// upstream stands in for the proxy: it copies the upstream's head, runs
// the response filters over it, as proxy.Forwarder does, and answers.
func upstream(head http.Header) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		dst := w.Header()
		for k, vs := range head {
			dst[k] = slices.Clone(vs)
		}
		for _, f := range st.ResponseFilters {
			f(dst, st)
		}
		st.Status = http.StatusOK
		w.WriteHeader(http.StatusOK)
	})
}

func TestStage(t *testing.T) {
	d := &config.Deprecation{Since: at("2026-06-01T00:00:00Z"), Sunset: at("2027-01-01T00:00:00Z"),
		Link: "https://developer.example.com/migrate-v2", Successor: "/v2/orders"}
	wantLinks := []string{`<https://developer.example.com/migrate-v2>; rel="deprecation"; type="text/html"`, `</v2/orders>; rel="successor-version"`}
	for _, tc := range []struct {
		name     string
		now      string
		upstream http.Header
		status   int
		links    []string
	}{
		{"announced ahead", "2026-03-01T00:00:00Z", nil, 200, wantLinks},
		{"deprecated", "2026-09-01T00:00:00Z", nil, 200, wantLinks},
		{"the upstream's own headers give way, its other links stay", "2026-09-01T00:00:00Z",
			http.Header{"Deprecation": {"@1"}, "Sunset": {"Thu, 01 Jan 2099 00:00:00 GMT"}, "Link": {`</orders?page=2>; rel="next"`}},
			200, append([]string{`</orders?page=2>; rel="next"`}, wantLinks...)},
		{"at the sunset", "2027-01-01T00:00:00Z", nil, 410, wantLinks},
		{"after the sunset", "2027-03-01T00:00:00Z", nil, 410, wantLinks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := at(tc.now).Time
			var outcomes []string
			s := New("orders-v1", d, Options{Now: func() time.Time { return now }, Count: func(o string) { outcomes = append(outcomes, o) }})
			called := false
			next := upstream(tc.upstream)
			h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true; next.ServeHTTP(w, r) }))
			r := httptest.NewRequest("GET", "/v1/orders", nil)
			st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.7"), Events: observe.NewBus(nil, nil, nil)}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), st)))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("Deprecation"); got != "@1780272000" {
				t.Errorf("Deprecation %q, want @1780272000 (RFC 9745: @ and Unix seconds)", got)
			}
			if got := w.Header().Values("Sunset"); !slices.Equal(got, []string{"Fri, 01 Jan 2027 00:00:00 GMT"}) {
				t.Errorf("Sunset %q, want one HTTP-date (RFC 8594)", got)
			}
			if got := w.Header().Values("Link"); !slices.Equal(got, tc.links) {
				t.Errorf("Link %q, want %q", got, tc.links)
			}
			if tc.status == 410 {
				if called {
					t.Error("a request after the sunset reached the upstream")
				}
				var p map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || !strings.HasSuffix(p["type"].(string), "gone") {
					t.Fatalf("not a gone problem: %s", w.Body)
				}
				if d := p["detail"].(string); !strings.Contains(d, "2027-01-01T00:00:00Z") || !strings.Contains(d, "Use /v2/orders instead") {
					t.Errorf("detail %q does not say when and where to go", d)
				}
				if !slices.Equal(outcomes, []string{"gone"}) {
					t.Errorf("outcomes %v", outcomes)
				}
			} else if !slices.Equal(outcomes, []string{"served"}) {
				t.Errorf("outcomes %v", outcomes)
			}
		})
	}
}

func TestGoneDetail(t *testing.T) {
	for _, tc := range []struct {
		link, successor, want string
	}{
		{"https://d.example/m", "/v2", "Use /v2 instead; https://d.example/m explains the changes."},
		{"", "https://api.example/v2", "Use https://api.example/v2 instead."},
		{"https://d.example/m", "", "https://d.example/m explains what replaces it."},
		{"", "", "Ask the API operator what replaces it."},
	} {
		s := New("r", &config.Deprecation{Since: at("2026-01-01T00:00:00Z"), Sunset: at("2026-02-01T00:00:00Z"), Link: tc.link, Successor: tc.successor}, Options{})
		if !strings.HasSuffix(s.goneDetail, tc.want) {
			t.Errorf("%q", s.goneDetail)
		}
	}
}

// TestCallersReported: each caller of a deprecated route is reported once
// per period, by consumer, or by address when anonymous.
func TestCallersReported(t *testing.T) {
	now := at("2026-09-01T00:00:00Z").Time
	s := New("orders-v1", &config.Deprecation{Since: at("2026-06-01T00:00:00Z")}, Options{Now: func() time.Time { return now }})
	sink := &events{}
	bus := observe.NewBus([]observe.Sink{sink}, nil, nil)
	h := s.Wrap(upstream(nil))
	call := func(consumer, ip string) {
		r := httptest.NewRequest("GET", "/v1/orders", nil)
		st := &reqctx.State{ClientIP: netip.MustParseAddr(ip), Events: bus}
		st.Consumer = consumer
		h.ServeHTTP(httptest.NewRecorder(), r.WithContext(reqctx.With(r.Context(), st)))
	}
	call("acme", "192.0.2.1")
	call("acme", "192.0.2.2")   // same consumer: not again
	call("globex", "192.0.2.1") // another consumer
	call("", "192.0.2.9")       // anonymous: by address
	call("", "192.0.2.9")
	now = now.Add(61 * time.Minute)
	call("acme", "192.0.2.1") // a new period
	bus.Close()
	var got []string
	for _, e := range sink.got {
		if e.Type != "route.deprecated" || e.Route != "orders-v1" {
			t.Errorf("event %+v", e)
		}
		got = append(got, e.Consumer+"@"+e.ClientIP)
	}
	if want := []string{"acme@192.0.2.1", "globex@192.0.2.1", "@192.0.2.9", "acme@192.0.2.1"}; !slices.Equal(got, want) {
		t.Errorf("reported %v, want %v", got, want)
	}
}

// TestCallersBounded: the memory of callers stays bounded; a caller
// forgotten is reported again, never lost.
func TestCallersBounded(t *testing.T) {
	c := newCallers(time.Hour)
	now := time.Unix(0, 0)
	for i := range 3 * maxCallers {
		if !c.due(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String(), now) {
			t.Fatal("a new caller was not due")
		}
		if len(c.last) > maxCallers {
			t.Fatalf("%d callers remembered", len(c.last))
		}
	}
}
