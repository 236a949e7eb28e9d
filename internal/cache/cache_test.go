package cache

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

func TestStorable(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	date := now.Format(http.TimeFormat)
	for _, tc := range []struct {
		name          string
		status        int
		header        http.Header
		ttl           time.Duration
		authed, share bool
		store         bool
		fresh         time.Duration
	}{
		{"max-age", 200, http.Header{"Cache-Control": {"max-age=60"}}, 0, false, true, true, time.Minute},
		{"s-maxage wins", 200, http.Header{"Cache-Control": {"max-age=60, s-maxage=30"}}, 0, false, true, true, 30 * time.Second},
		{"expires", 200, http.Header{"Expires": {now.Add(2 * time.Minute).Format(http.TimeFormat)}, "Date": {date}}, 0, false, true, true, 2 * time.Minute},
		{"invalid expires is expired", 200, http.Header{"Expires": {"0"}}, time.Hour, false, true, false, 0},
		{"the route's ttl when the upstream says nothing", 200, http.Header{}, 10 * time.Second, false, true, true, 10 * time.Second},
		{"nothing said, no ttl", 200, http.Header{}, 0, false, true, false, 0},
		{"upstream's max-age=0 beats the ttl", 200, http.Header{"Cache-Control": {"max-age=0"}}, time.Hour, false, true, false, 0},
		{"no-store", 200, http.Header{"Cache-Control": {"public, no-store, max-age=60"}}, 0, false, true, false, 0},
		{"private", 200, http.Header{"Cache-Control": {"private, max-age=60"}}, 0, true, false, false, 0},
		{"no-cache", 200, http.Header{"Cache-Control": {"no-cache"}}, time.Hour, false, true, false, 0},
		{"set-cookie never", 200, http.Header{"Cache-Control": {"public, max-age=60"}, "Set-Cookie": {"s=1"}}, 0, false, true, false, 0},
		{"vary star", 200, http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"*"}}, 0, false, true, false, 0},
		{"shared and credentialed needs public", 200, http.Header{"Cache-Control": {"max-age=60"}}, 0, true, true, false, 0},
		{"shared, credentialed, public", 200, http.Header{"Cache-Control": {"public, max-age=60"}}, 0, true, true, true, time.Minute},
		{"per consumer, credentialed", 200, http.Header{"Cache-Control": {"max-age=60"}}, 0, true, false, true, time.Minute},
		{"404 kept", 404, http.Header{"Cache-Control": {"max-age=60"}}, 0, false, true, true, time.Minute},
		{"500 never", 500, http.Header{"Cache-Control": {"max-age=60"}}, 0, false, true, false, 0},
		{"206 never", 206, http.Header{"Cache-Control": {"max-age=60"}}, 0, false, true, false, 0},
		{"malformed max-age counts as absent", 200, http.Header{"Cache-Control": {"max-age=soon"}}, 5 * time.Second, false, true, true, 5 * time.Second},
		{"directive names are case-insensitive", 200, http.Header{"Cache-Control": {"Max-Age=60, No-Store"}}, 0, false, true, false, 0},
	} {
		d := storable(tc.status, tc.header, now, tc.ttl, tc.authed, tc.share)
		if d.store != tc.store || d.store && d.fresh != tc.fresh {
			t.Errorf("%s: store %v fresh %v (%s), want %v %v", tc.name, d.store, d.fresh, d.reason, tc.store, tc.fresh)
		}
	}
}

// origin is a test upstream whose answers a test sets per path.
type origin struct {
	calls atomic.Int64
	mu    sync.Mutex
	n     int
	delay time.Duration
	head  func(r *http.Request) http.Header
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.calls.Add(1)
	time.Sleep(o.delay)
	o.mu.Lock()
	o.n++
	n := o.n
	o.mu.Unlock()
	// as the proxy does: the upstream's head, then the response filters
	st := reqctx.From(r.Context())
	for k, vs := range o.head(r) {
		w.Header()[k] = vs
	}
	for _, f := range st.ResponseFilters {
		f(w.Header(), st)
	}
	who := ""
	if st.Identity != nil {
		who = st.Identity.Consumer
	}
	body := fmt.Sprintf("answer %d for %q", n, who)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	_, _ = w.Write([]byte(body))
}

type client struct {
	consumer string
	header   map[string]string
}

func get(h http.Handler, path string, c client) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", path, nil)
	r.Host = "api.example.com"
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}
	if c.consumer != "" {
		st.Identity = &reqctx.Identity{Consumer: c.consumer}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), st)))
	return w
}

func TestStage(t *testing.T) {
	alice, bob := client{consumer: "alice", header: map[string]string{"Authorization": "Bearer a"}}, client{consumer: "bob", header: map[string]string{"Authorization": "Bearer b"}}
	anon := client{}
	maxAge := func(*http.Request) http.Header { return http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"v1"`}} }
	public := func(*http.Request) http.Header { return http.Header{"Cache-Control": {"public, max-age=60"}} }
	for _, tc := range []struct {
		name   string
		o      Options
		head   func(*http.Request) http.Header
		calls  []client
		paths  []string
		bodies []string // what each call gets
		origin int64    // upstream calls
	}{
		{"a hit", Options{}, maxAge, []client{anon, anon}, []string{"/a", "/a"}, []string{`answer 1 for ""`, `answer 1 for ""`}, 1},
		{"the query is part of the key", Options{}, maxAge, []client{anon, anon}, []string{"/a?x=1", "/a?x=2"}, []string{`answer 1 for ""`, `answer 2 for ""`}, 2},
		{"per consumer by default", Options{}, maxAge, []client{alice, bob, alice}, []string{"/me", "/me", "/me"},
			[]string{`answer 1 for "alice"`, `answer 2 for "bob"`, `answer 1 for "alice"`}, 2},
		{"shared, not public: never handed to another caller", Options{Shared: true}, maxAge, []client{alice, bob}, []string{"/me", "/me"},
			[]string{`answer 1 for "alice"`, `answer 2 for "bob"`}, 2},
		{"shared and public", Options{Shared: true}, public, []client{alice, bob}, []string{"/catalog", "/catalog"},
			[]string{`answer 1 for "alice"`, `answer 1 for "alice"`}, 1},
		{"an anonymous caller's cookie makes it credentialed", Options{}, maxAge,
			[]client{{header: map[string]string{"Cookie": "session=victim"}}, anon}, []string{"/account", "/account"},
			[]string{`answer 1 for ""`, `answer 2 for ""`}, 2},
		{"cache deception: a private page under a static-looking name", Options{Shared: true}, maxAge,
			[]client{alice, anon}, []string{"/account.css", "/account.css"}, []string{`answer 1 for "alice"`, `answer 2 for ""`}, 2},
		{"set-cookie is never kept", Options{}, func(*http.Request) http.Header {
			return http.Header{"Cache-Control": {"public, max-age=60"}, "Set-Cookie": {"s=1"}}
		}, []client{anon, anon}, []string{"/a", "/a"}, []string{`answer 1 for ""`, `answer 2 for ""`}, 2},
		{"vary", Options{}, func(*http.Request) http.Header {
			return http.Header{"Cache-Control": {"max-age=60"}, "Vary": {"Accept-Language"}}
		}, []client{{header: map[string]string{"Accept-Language": "fr"}}, {header: map[string]string{"Accept-Language": "de"}}, {header: map[string]string{"Accept-Language": "fr"}}},
			[]string{"/a", "/a", "/a"}, []string{`answer 1 for ""`, `answer 2 for ""`, `answer 1 for ""`}, 2},
		{"key headers", Options{KeyHeaders: []string{"x-tenant"}}, maxAge,
			[]client{{header: map[string]string{"X-Tenant": "a"}}, {header: map[string]string{"X-Tenant": "b"}}}, []string{"/a", "/a"},
			[]string{`answer 1 for ""`, `answer 2 for ""`}, 2},
		{"the client's no-cache refetches", Options{}, maxAge, []client{anon, {header: map[string]string{"Cache-Control": "no-cache"}}, anon},
			[]string{"/a", "/a", "/a"}, []string{`answer 1 for ""`, `answer 2 for ""`, `answer 2 for ""`}, 2},
		{"the client's no-store bypasses", Options{}, maxAge, []client{{header: map[string]string{"Cache-Control": "no-store"}}, anon},
			[]string{"/a", "/a"}, []string{`answer 1 for ""`, `answer 2 for ""`}, 2},
		{"ranges bypass", Options{}, maxAge, []client{anon, {header: map[string]string{"Range": "bytes=0-3"}}},
			[]string{"/a", "/a"}, []string{`answer 1 for ""`, `answer 2 for ""`}, 2},
		{"too large to keep", Options{MaxBody: 5}, maxAge, []client{anon, anon}, []string{"/a", "/a"}, []string{`answer 1 for ""`, `answer 2 for ""`}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &origin{head: tc.head}
			tc.o.Route = "r"
			s := New(NewStore(1<<20), tc.o)
			h := s.Wrap(o)
			for i, c := range tc.calls {
				w := get(h, tc.paths[i], c)
				if w.Code != 200 || w.Body.String() != tc.bodies[i] {
					t.Errorf("call %d: %d %q, want %q (Cache-Status %q)", i, w.Code, w.Body, tc.bodies[i], w.Header().Get("Cache-Status"))
				}
			}
			if got := o.calls.Load(); got != tc.origin {
				t.Errorf("%d upstream calls, want %d", got, tc.origin)
			}
		})
	}
}

// TestHitHeaders: a hit carries Age and Cache-Status (RFC 9211), and a
// 304 when the client's validator matches.
func TestHitHeaders(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	o := &origin{head: func(*http.Request) http.Header {
		return http.Header{"Cache-Control": {"max-age=60"}, "Etag": {`"v1"`}, "Content-Type": {"application/json"}, "X-Request-Id": {"upstream-id"}}
	}}
	s := New(NewStore(1<<20), Options{Route: "r", Now: func() time.Time { return now }})
	h := s.Wrap(o)
	w := get(h, "/a", client{})
	if cs := w.Header().Get("Cache-Status"); cs != "Rampart; fwd=uri-miss" {
		t.Errorf("miss: Cache-Status %q", cs)
	}
	now = now.Add(20 * time.Second)
	w = get(h, "/a", client{})
	if w.Header().Get("Age") != "20" || w.Header().Get("Cache-Status") != "Rampart; hit; ttl=40" || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("hit: %v", w.Header())
	}
	if w.Header().Get("X-Request-Id") != "" {
		t.Errorf("a per-response field was stored: %v", w.Header())
	}
	w = get(h, "/a", client{header: map[string]string{"If-None-Match": `W/"v0", "v1"`}})
	if w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("conditional: %d %q", w.Code, w.Body)
	}
	now = now.Add(41 * time.Second)
	if w = get(h, "/a", client{}); w.Header().Get("Cache-Status") != "Rampart; fwd=uri-miss" || o.calls.Load() != 2 {
		t.Errorf("stale: %v after %d calls", w.Header(), o.calls.Load())
	}
}

// TestCoalescing: concurrent misses of one key make one upstream call;
// when the answer may not be shared, each waiter fetches its own.
func TestCoalescing(t *testing.T) {
	for _, tc := range []struct {
		cc   string
		want int64
	}{{"max-age=60", 1}, {"private", 20}} {
		o := &origin{delay: 50 * time.Millisecond, head: func(*http.Request) http.Header { return http.Header{"Cache-Control": {tc.cc}} }}
		h := New(NewStore(1<<20), Options{Route: "r"}).Wrap(o)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if w := get(h, "/a", client{}); w.Code != 200 || !strings.HasPrefix(w.Body.String(), "answer") {
					t.Errorf("%d %q", w.Code, w.Body)
				}
			})
		}
		wg.Wait()
		if got := o.calls.Load(); got != tc.want {
			t.Errorf("%s: %d upstream calls for 20 concurrent misses, want %d", tc.cc, got, tc.want)
		}
	}
}

// TestStoreBounded: the store keeps to its budget, least recently used
// out first, and bounds the variants of one key.
func TestStoreBounded(t *testing.T) {
	s := NewStore(64 << 10)
	body := make([]byte, 1000)
	for i := range 500 {
		s.Put(context.Background(), fmt.Sprint("k", i), &Entry{Status: 200, Header: http.Header{}, Body: body, Fresh: time.Minute}, time.Now())
		if s.Used() > 64<<10 {
			t.Fatalf("%d bytes held", s.Used())
		}
	}
	if s.getLocal("k0", nil) != nil || s.getLocal("k499", nil) == nil {
		t.Error("not least recently used first")
	}
	for i := range 50 {
		s.Put(context.Background(), "v", &Entry{Status: 200, Body: body, Vary: []string{"Accept-Language"}, VaryValues: []string{fmt.Sprint(i)}}, time.Now())
	}
	if n := len(s.byKey["v"].Value.(*slot).variants); n != maxVariants {
		t.Errorf("%d variants under one key", n)
	}
	if s.Put(context.Background(), "big", &Entry{Body: make([]byte, 32<<10)}, time.Now()) {
		t.Error("an entry over a quarter of the budget was kept")
	}
	if n := s.Purge(context.Background(), Selector{KeyPrefix: "k"}); n == 0 || s.getLocal("k499", nil) != nil {
		t.Errorf("purge by prefix removed %d", n)
	}
}

// TestDecidesOnUpstreamHead: whether a response is kept follows what the
// upstream said, not what inner stages then tell the client's caches (an
// authenticated answer's Cache-Control becomes no-store, and stays so in
// every copy served); an answer the gateway made itself is never kept.
func TestDecidesOnUpstreamHead(t *testing.T) {
	alice := client{consumer: "alice"}
	o := &origin{head: func(*http.Request) http.Header { return http.Header{"Cache-Control": {"max-age=60"}} }}
	noStore := func(next http.Handler) http.Handler { // as secheaders does, inside the cache
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reqctx.From(r.Context()).AddResponseFilter(func(h http.Header, _ *reqctx.State) { h["Cache-Control"] = []string{"no-store"} })
			next.ServeHTTP(w, r)
		})
	}
	h := New(NewStore(1<<20), Options{Route: "r"}).Wrap(noStore(o))
	get(h, "/me", alice)
	w := get(h, "/me", alice)
	if !strings.HasPrefix(w.Header().Get("Cache-Status"), "Rampart; hit") || w.Header().Get("Cache-Control") != "no-store" || o.calls.Load() != 1 {
		t.Errorf("%v after %d calls", w.Header(), o.calls.Load())
	}
	var own atomic.Int64
	gw := New(NewStore(1<<20), Options{Route: "r", TTL: time.Hour}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		own.Add(1)
		http.Error(w, "not found", http.StatusNotFound)
	}))
	get(gw, "/x", client{})
	if w := get(gw, "/x", client{}); own.Load() != 2 || !strings.Contains(w.Header().Get("Cache-Status"), "detail=gateway") {
		t.Errorf("the gateway's own answer was kept: %d calls, %v", own.Load(), w.Header())
	}
}

// TestStale: a stale entry with validators is revalidated (the upstream's
// 304 refreshes it and the client gets the stored body), answers the
// others while one request fetches (stale-while-revalidate), answers in
// place of an upstream error (stale-if-error), and not past its windows.
func TestStale(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	var mode atomic.Value // "ok", "fail", "slow"
	mode.Store("ok")
	var calls atomic.Int64
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		st := reqctx.From(r.Context())
		h := w.Header()
		h.Set("Cache-Control", "max-age=10, stale-while-revalidate=30, stale-if-error=60")
		h.Set("Etag", `"v1"`)
		h.Set("Cache-Tag", "orders, eu")
		for _, f := range st.ResponseFilters {
			f(h, st)
		}
		switch mode.Load() {
		case "fail":
			w.WriteHeader(503)
			_, _ = w.Write([]byte("upstream down"))
			return
		case "slow":
			started <- struct{}{}
			<-release
		}
		if inm, _ := st.UpstreamValues("If-None-Match"); len(inm) == 1 && inm[0] == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte("body v1"))
	})
	store := NewStore(1 << 20)
	s := New(store, Options{Route: "r", Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	h := s.Wrap(upstream)
	at := func(d time.Duration) { clock.Store(now.Add(d).UnixNano()) }
	check := func(what string, w *httptest.ResponseRecorder, status int, body, cacheStatus string) {
		t.Helper()
		if w.Code != status || w.Body.String() != body || !strings.Contains(w.Header().Get("Cache-Status"), cacheStatus) {
			t.Errorf("%s: %d %q %q, want %d %q %q", what, w.Code, w.Body, w.Header().Get("Cache-Status"), status, body, cacheStatus)
		}
	}

	check("first", get(h, "/o", client{}), 200, "body v1", "fwd=uri-miss")
	if w := get(h, "/o", client{}); w.Header().Get("Cache-Tag") != "" {
		t.Errorf("Cache-Tag reached the client: %v", w.Header())
	}
	at(15 * time.Second)
	check("revalidated", get(h, "/o", client{}), 200, "body v1", "detail=revalidated")
	n := calls.Load()
	check("fresh again", get(h, "/o", client{}), 200, "body v1", "hit")
	if calls.Load() != n {
		t.Errorf("a fresh entry went upstream")
	}

	// stale-while-revalidate: one request fetches, another is answered stale
	at(30 * time.Second)
	mode.Store("slow")
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- get(h, "/o", client{}) }()
	<-started
	check("while revalidating", get(h, "/o", client{}), 200, "body v1", "detail=stale-while-revalidate")
	close(release)
	check("the fetching one", <-done, 200, "body v1", "detail=revalidated")

	// stale-if-error, within its window and past it
	mode.Store("fail")
	at(50 * time.Second)
	check("upstream failing", get(h, "/o", client{}), 200, "body v1", "stale-if-error; fwd-status=503")
	at(200 * time.Second)
	check("past stale-if-error", get(h, "/o", client{}), 503, "upstream down", "fwd=uri-miss")
}

func TestPurge(t *testing.T) {
	s := NewStore(1 << 20)
	put := func(key, path string, tags ...string) {
		s.Put(context.Background(), key, &Entry{Status: 200, Body: []byte("x"), Path: path, Tags: tags, Fresh: time.Hour, Stored: time.Now()}, time.Now())
	}
	reset := func() {
		s.Purge(context.Background(), Selector{})
		put("a\x00/orders/1", "/orders/1", "orders", "eu")
		put("a\x00/orders/2", "/orders/2", "orders")
		put("a\x00/users/1", "/users/1", "users", "eu")
		put("b\x00/orders/1", "/orders/1", "orders")
	}
	for _, tc := range []struct {
		sel  Selector
		want int
	}{
		{Selector{}, 4},
		{Selector{KeyPrefix: "a\x00"}, 3},
		{Selector{KeyPrefix: "a\x00", PathPrefix: "/orders/"}, 2},
		{Selector{PathPrefix: "/orders/1", ExactPath: true}, 2},
		{Selector{PathPrefix: "/orders", ExactPath: true}, 0},
		{Selector{Tag: "eu"}, 2},
		{Selector{KeyPrefix: "a\x00", PathPrefix: "/orders/", Tag: "eu"}, 1},
		{Selector{Tag: "none"}, 0},
	} {
		reset()
		before := s.Used()
		if n := s.Purge(context.Background(), tc.sel); n != tc.want {
			t.Errorf("Purge(%+v) = %d, want %d", tc.sel, n, tc.want)
		}
		if tc.want > 0 && s.Used() >= before {
			t.Errorf("Purge(%+v) freed nothing: %d -> %d", tc.sel, before, s.Used())
		}
	}
	reset()
	s.Purge(context.Background(), Selector{})
	if s.Used() != 0 {
		t.Errorf("an empty store counts %d bytes", s.Used())
	}
}
