package respfilter

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/pii"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/testenv"
)

func detectors(t testing.TB, names ...string) *pii.Set {
	t.Helper()
	var ds []*pii.Detector
	for _, n := range names {
		d, ok := pii.Lookup(n)
		if !ok {
			t.Fatal(n)
		}
		ds = append(ds, d)
	}
	return pii.NewSet(ds...)
}

func gz(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.String()
}

type upstream struct {
	status   int
	header   map[string]string
	body     string
	chunks   int  // write the body in this many parts
	gateway  bool // the gateway answers itself
	noLength bool
}

func (u upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u.gateway {
		reqctx.From(r.Context()).Problem = "bad-gateway"
	}
	for k, v := range u.header {
		w.Header().Set(k, v)
	}
	if !u.noLength {
		w.Header().Set("Content-Length", strconv.Itoa(len(u.body)))
	}
	w.WriteHeader(u.status)
	parts := max(u.chunks, 1)
	size := (len(u.body) + parts - 1) / parts
	for i := 0; i < len(u.body); i += size {
		if _, err := w.Write([]byte(u.body[i:min(i+size, len(u.body))])); err != nil {
			return
		}
	}
}

// TestFilter: fields are removed and values masked in JSON and text,
// what cannot be filtered is withheld (or passed, when told), and what is
// not the filters' business goes through byte for byte.
func TestFilter(t *testing.T) {
	const user = `{"name":"Jane","email":"jane.doe@example.com","ssn":"078-05-1120","card":4111111111111111,"items":[{"sku":"a","cost":3}]}`
	json := map[string]string{"Content-Type": "application/json; charset=utf-8", "Etag": `"v1"`}
	for _, tc := range []struct {
		name      string
		up        upstream
		method    string
		limit     int64
		pass      bool
		status    int
		body      string // "" : the upstream's, unchanged
		problem   bool
		outcome   string
		masked    map[string]int
		etag      string
		upHeaders bool // the upstream's headers are kept
	}{
		{name: "json", up: upstream{status: 200, header: json, body: user, chunks: 3}, status: 200,
			body:    `{"name":"Jane","email":"j*******@example.com","card":"4111********1111","items":[{"sku":"a"}]}`,
			outcome: "filtered", masked: map[string]int{"email": 1, "card": 1}, etag: `W/"v1"`, upHeaders: true},
		{name: "problem+json from upstream", up: upstream{status: 400, header: map[string]string{"Content-Type": "application/problem+json"}, body: `{"detail":"jane@example.com taken"}`}, status: 400,
			body: `{"detail":"j***@example.com taken"}`, outcome: "filtered", masked: map[string]int{"email": 1}},
		{name: "text", up: upstream{status: 200, header: map[string]string{"Content-Type": "text/plain"}, body: "mail jane@example.com, card 4111 1111 1111 1111", noLength: true}, status: 200,
			body: "mail j***@example.com, card 4111 **** **** 1111", outcome: "filtered", masked: map[string]int{"email": 1, "card": 1}},
		{name: "nothing to change", up: upstream{status: 200, header: json, body: `{"a":"b"}`}, status: 200, outcome: "clean", etag: `"v1"`},
		{name: "gzip", up: upstream{status: 200, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, body: gz(`{"ssn":"x","a":"jane@example.com"}`)}, status: 200,
			body: `{"a":"j***@example.com"}`, outcome: "filtered", masked: map[string]int{"email": 1}},
		{name: "gzip bomb", up: upstream{status: 200, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, body: gz(`"` + strings.Repeat("a", 4096) + `"`)}, limit: 1024,
			status: 502, problem: true, outcome: "refused"},
		{name: "brotli", up: upstream{status: 200, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"}, body: "\x0b\x02\x80{}\x03"}, status: 502, problem: true, outcome: "refused"},
		{name: "invalid json", up: upstream{status: 200, header: json, body: `{"email":"jane@example.com"`}, status: 502, problem: true, outcome: "refused"},
		{name: "too large by Content-Length", up: upstream{status: 200, header: json, body: user}, limit: 64, status: 502, problem: true, outcome: "refused"},
		{name: "too large, streamed", up: upstream{status: 200, header: json, body: user, chunks: 4, noLength: true}, limit: 64, status: 502, problem: true, outcome: "refused"},
		{name: "too large, passed", up: upstream{status: 200, header: json, body: user, chunks: 4, noLength: true}, limit: 64, pass: true, status: 200, outcome: "oversize_passed", upHeaders: true},
		{name: "an image", up: upstream{status: 200, header: map[string]string{"Content-Type": "image/png"}, body: "\x89PNG jane@example.com"}, status: 200, outcome: "skipped"},
		{name: "HEAD", method: "HEAD", up: upstream{status: 200, header: json}, status: 200},
		{name: "304", up: upstream{status: 304, header: json}, status: 304},
		{name: "the gateway's own problem", up: upstream{status: 429, gateway: true, header: map[string]string{"Content-Type": "application/problem+json"}, body: `{"detail":"from 192.0.2.1"}`}, status: 429},
		{name: "empty json", up: upstream{status: 200, header: json}, status: 200, outcome: "clean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := map[string]int{}
			metric := map[string]int{}
			s := New(Options{Policy: "p", Remove: mustSet(t, "ssn", "items[*].cost"), Mask: detectors(t, "email", "card"),
				Limit: tc.limit, PassOversize: tc.pass, Count: func(o string) { counts[o]++ }, CountMasked: func(d string, n int) { metric[d] += n }})
			sink := &testenv.Events{}
			bus := observe.NewBus([]observe.Sink{sink}, nil, nil)
			var seen []string
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen, _ = reqctx.From(r.Context()).UpstreamValues("Accept-Encoding")
				tc.up.ServeHTTP(w, r)
			})
			r := httptest.NewRequest(cmpOr(tc.method, "GET"), "/u/1", nil)
			st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), Events: bus}
			st.RequestID = "req-1"
			r = r.WithContext(reqctx.With(context.Background(), st))
			rec := httptest.NewRecorder()
			rec.Header().Set("X-Request-Id", "req-1")
			s.Wrap(h).ServeHTTP(rec, r)
			_ = bus.Close()

			if got := strings.Join(seen, ","); got != "identity" {
				t.Errorf("upstream Accept-Encoding %q", got)
			}
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			want := tc.body
			if want == "" && !tc.problem {
				want = tc.up.body
				if tc.method == "HEAD" {
					want = ""
				}
			}
			if tc.problem {
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(rec.Body.String(), "response-not-filtered") {
					t.Errorf("not the problem: %s %s", ct, rec.Body)
				}
				if strings.Contains(rec.Body.String(), "jane") || rec.Header().Get("Etag") != "" || rec.Header().Get("X-Request-Id") != "req-1" {
					t.Errorf("the problem carries the upstream's body or headers, or lost the gateway's: %v %s", rec.Header(), rec.Body)
				}
			} else if rec.Body.String() != want {
				t.Errorf("body\n got %q\nwant %q", rec.Body, want)
			}
			if cl := rec.Header().Get("Content-Length"); cl != "" && cl != strconv.Itoa(rec.Body.Len()) && tc.method != "HEAD" {
				t.Errorf("Content-Length %s for %d bytes", cl, rec.Body.Len())
			}
			if tc.outcome != "" && counts[tc.outcome] != 1 || tc.outcome == "" && len(counts) != 0 {
				t.Errorf("outcomes %v, want %q", counts, tc.outcome)
			}
			if tc.etag != "" && rec.Header().Get("Etag") != tc.etag {
				t.Errorf("Etag %q, want %q", rec.Header().Get("Etag"), tc.etag)
			}
			if tc.up.header["Content-Encoding"] == "gzip" && rec.Code == 200 && rec.Header().Get("Content-Encoding") != "" {
				t.Errorf("decoded body still labelled %s", rec.Header().Get("Content-Encoding"))
			}
			var events []observe.Event
			for _, e := range sink.Got() {
				if e.Type == "data.masked" {
					events = append(events, e)
				}
			}
			if len(tc.masked) == 0 {
				if len(events) != 0 {
					t.Errorf("data.masked events: %v", events)
				}
				return
			}
			if len(events) != 1 || len(events[0].Masked) != len(tc.masked) || events[0].RequestID != "req-1" {
				t.Fatalf("events: %+v", events)
			}
			for d, n := range tc.masked {
				if events[0].Masked[d] != n || metric[d] != n {
					t.Errorf("%s: event %d, metric %d, want %d", d, events[0].Masked[d], metric[d], n)
				}
			}
			if strings.Contains(events[0].Detail, "jane") {
				t.Errorf("event holds a value: %s", events[0].Detail)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func mustSet(t testing.TB, patterns ...string) *fieldpath.Set {
	t.Helper()
	s, err := fieldpath.Compile(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// BenchmarkFilter: 16 KiB JSON responses with three detectors, through
// the stage as the proxy writes it: dense (an email and a phone number
// in every 170 bytes) and orders (two in every 680, as make bench's).
func BenchmarkFilter(b *testing.B) {
	for _, tc := range []struct{ name, item string }{
		{"dense", `{"id":"c-8f14e45f","name":"Widget, brushed steel","quantity":12,"updated":"2026-11-24T13:06:00Z","owner":{"email":"jane.doe@example.com","phone":"+44 20 7946 0958"}}`},
		{"orders", orderItem},
	} {
		b.Run(tc.name, func(b *testing.B) { benchFilter(b, tc.item) })
	}
}

// orderItem is one order of make bench's mask scenario: an email
// address and a phone number among ids, dates, amounts and lines.
const orderItem = `{"id":"ord_000001","status":"shipped","created_at":"2026-11-02T09:01:00Z","currency":"GBP","customer":{"id":"cus_00007","name":"Customer 1","email":"customer1@example.com"},` +
	`"shipping":{"name":"Customer 1","street":"1 Harbour Road","city":"Bristol","postcode":"BS1 5DB","country":"GB","phone":"+44 20 7946 0001"},` +
	`"lines":[{"sku":"WID-0037","name":"Widget, brushed steel","quantity":2,"unit_price":12.50},{"sku":"GAD-0011","name":"Gadget, matt black","quantity":1,"unit_price":24.00},` +
	`{"sku":"SHP-0001","name":"Standard delivery","quantity":1,"unit_price":3.95}],"totals":{"subtotal":41.45,"tax":9.29,"total":49.74},"payment":{"method":"card","brand":"visa","last4":"1111"}}`

// page16K is a JSON list of item, repeated to 16 KiB.
func page16K(item string) string {
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := 0; sb.Len() < 16<<10; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(item)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

func benchFilter(b *testing.B, item string) {
	body := page16K(item)
	s := New(Options{Policy: "p", Mask: detectors(b, "email", "card", "phone")})
	h := s.Wrap(upstream{status: 200, header: map[string]string{"Content-Type": "application/json"}, body: body})
	st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}
	r := httptest.NewRequest("GET", "/items", nil)
	r = r.WithContext(reqctx.With(context.Background(), st))
	w := &discard{h: http.Header{}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		st.UpstreamHeader = nil
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
