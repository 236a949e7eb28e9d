package route

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func mustPatterns(t testing.TB, ps ...string) []*Pattern {
	t.Helper()
	var out []*Pattern
	for _, p := range ps {
		pat, err := ParsePattern(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pat)
	}
	return out
}

func build(t testing.TB, rules ...Rule) *Table {
	t.Helper()
	b := NewBuilder()
	for _, r := range rules {
		if c := b.Add(r); len(c) > 0 {
			t.Fatalf("unexpected conflict: %v", c[0])
		}
	}
	return b.Build()
}

func TestLookup(t *testing.T) {
	tab := build(t,
		Rule{ID: 0, Patterns: mustPatterns(t, "/v1/orders", "/v1/orders/{id}"), Methods: GET | POST},
		Rule{ID: 1, Patterns: mustPatterns(t, "/v1/orders/**")},
		Rule{ID: 2, Patterns: mustPatterns(t, "/v1/orders/export"), Methods: GET},
		Rule{ID: 3, Hosts: []string{"api.example.com"}, Patterns: mustPatterns(t, "/v1/orders/{id}")},
		Rule{ID: 4, Hosts: []string{"*.example.com"}, Patterns: mustPatterns(t, "/v1/orders/{id}")},
		Rule{ID: 5, Patterns: mustPatterns(t, "/v1/orders/{id}"), Methods: GET, Headers: map[string]string{"x-version": "2"}},
		Rule{ID: 6, Patterns: mustPatterns(t, "/users/{uid}/items/{item}"), Methods: DELETE},
		Rule{ID: 7, Patterns: mustPatterns(t, "/"), Methods: GET},
		Rule{ID: 8, Hosts: []string{"*.deep.example.com"}, Patterns: mustPatterns(t, "/**")},
		Rule{ID: 9, Patterns: mustPatterns(t, "/only-get"), Methods: GET},
	)
	tests := []struct {
		name, host, method, path string
		header                   http.Header
		want                     Result
		id                       int
		params                   map[string]string
		allow                    Methods
	}{
		{name: "exact", method: "GET", path: "/v1/orders", want: Found, id: 0},
		{name: "param", method: "POST", path: "/v1/orders/42", want: Found, id: 0, params: map[string]string{"id": "42"}},
		{name: "static beats param", method: "GET", path: "/v1/orders/export", want: Found, id: 2},
		{name: "param beats catch-all", method: "GET", path: "/v1/orders/7", want: Found, id: 0},
		{name: "catch-all deeper", method: "GET", path: "/v1/orders/7/lines", want: Found, id: 1},
		{name: "catch-all takes other methods", method: "DELETE", path: "/v1/orders/7", want: Found, id: 1},
		{name: "exact host beats wildcard", host: "api.example.com", method: "GET", path: "/v1/orders/1", want: Found, id: 3},
		{name: "host with port and case", host: "API.Example.com:8443", method: "GET", path: "/v1/orders/1", want: Found, id: 3},
		{name: "wildcard host", host: "eu.example.com", method: "GET", path: "/v1/orders/1", want: Found, id: 4},
		{name: "longest wildcard", host: "a.deep.example.com", method: "GET", path: "/x", want: Found, id: 8},
		{name: "wildcard falls back to any-host", host: "eu.example.com", method: "GET", path: "/v1/orders", want: Found, id: 0},
		{name: "wildcard is not apex", host: "example.com", method: "GET", path: "/v1/orders/1", want: Found, id: 0},
		{name: "headers win", method: "GET", path: "/v1/orders/9", header: http.Header{"X-Version": {"2"}}, want: Found, id: 5},
		{name: "header mismatch", method: "GET", path: "/v1/orders/9", header: http.Header{"X-Version": {"3"}}, want: Found, id: 0},
		{name: "two params", method: "DELETE", path: "/users/u1/items/i2", want: Found, id: 6, params: map[string]string{"uid": "u1", "item": "i2"}},
		{name: "root", method: "GET", path: "/", want: Found, id: 7},
		{name: "HEAD allowed with GET", method: "HEAD", path: "/", want: Found, id: 7},
		{name: "405", method: "POST", path: "/only-get", want: MethodNotAllowed, allow: GET | HEAD, id: 9},
		{name: "405 unknown method", method: "BREW", path: "/only-get", want: MethodNotAllowed, allow: GET | HEAD, id: 9},
		{name: "404", method: "GET", path: "/nothing", want: NotFound},
		{name: "empty param segment", method: "DELETE", path: "/users//items/x", want: NotFound},
		{name: "trailing slash is distinct", method: "GET", path: "/only-get/", want: NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Match
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			host := tt.host
			if host == "" {
				host = "localhost"
			}
			got := tab.Lookup(host, tt.method, tt.path, h, &m)
			if got != tt.want {
				t.Fatalf("Lookup = %v, want %v", got, tt.want)
			}
			if got != NotFound && m.ID != tt.id {
				t.Errorf("route = %d, want %d", m.ID, tt.id)
			}
			for k, v := range tt.params {
				if g := m.Param(k); g != v {
					t.Errorf("param %s = %q, want %q", k, g, v)
				}
			}
			if tt.allow != 0 && m.Allow != tt.allow {
				t.Errorf("allow = %v, want %v", m.Allow, tt.allow)
			}
		})
	}
}

// TestAcceptParams: a version asked for by a media-type parameter of
// Accept selects its route; no parameter, or one no route names, gets
// the route without the condition.
func TestAcceptParams(t *testing.T) {
	tab := build(t,
		Rule{ID: 1, Patterns: mustPatterns(t, "/orders")},
		Rule{ID: 2, Patterns: mustPatterns(t, "/orders"), AcceptParams: map[string]string{"version": "2"}},
		Rule{ID: 3, Patterns: mustPatterns(t, "/orders"), AcceptParams: map[string]string{"version": "3"}},
	)
	for _, tc := range []struct {
		accept []string
		want   int
	}{
		{nil, 1},
		{[]string{"application/json"}, 1},
		{[]string{"application/vnd.acme+json; version=2"}, 2},
		{[]string{"application/vnd.acme+json;version=\"3\";q=0.9"}, 3},
		{[]string{"text/html, application/vnd.acme+json; version=2"}, 2},
		{[]string{"application/json", "application/vnd.acme+json; version=3"}, 3},
		{[]string{"application/vnd.acme+json; version=2, application/vnd.acme+json; version=3"}, 2}, // the first decides
		{[]string{"application/vnd.acme+json; version=9"}, 1},
		{[]string{"application/vnd.acme+json; Version=2"}, 2},   // parameter names are case-insensitive
		{[]string{"application/vnd.acme+json; version=2;;"}, 1}, // does not parse: passed over
	} {
		h := http.Header{}
		if tc.accept != nil {
			h["Accept"] = tc.accept
		}
		var m Match
		res := tab.Lookup("api.example.com", "GET", "/orders", h, &m)
		if res != Found || m.ID != tc.want {
			t.Errorf("Accept %q: route %d (%v), want %d", tc.accept, m.ID, res, tc.want)
		}
	}
}

func TestConflicts(t *testing.T) {
	tests := []struct {
		name string
		a, b Rule
		want bool
	}{
		{"same shape", Rule{Patterns: mustPatterns(t, "/a/{x}")}, Rule{Patterns: mustPatterns(t, "/a/{y}")}, true},
		{"disjoint methods", Rule{Patterns: mustPatterns(t, "/a"), Methods: GET}, Rule{Patterns: mustPatterns(t, "/a"), Methods: POST}, false},
		{"GET implies HEAD", Rule{Patterns: mustPatterns(t, "/a"), Methods: GET}, Rule{Patterns: mustPatterns(t, "/a"), Methods: HEAD}, true},
		{"different hosts", Rule{Hosts: []string{"a.com"}, Patterns: mustPatterns(t, "/a")}, Rule{Hosts: []string{"b.com"}, Patterns: mustPatterns(t, "/a")}, false},
		{"more headers is more specific", Rule{Patterns: mustPatterns(t, "/a")}, Rule{Patterns: mustPatterns(t, "/a"), Headers: map[string]string{"X": "1"}}, false},
		{"contradicting headers", Rule{Patterns: mustPatterns(t, "/a"), Headers: map[string]string{"X": "1"}}, Rule{Patterns: mustPatterns(t, "/a"), Headers: map[string]string{"x": "2"}}, false},
		{"overlapping header sets", Rule{Patterns: mustPatterns(t, "/a"), Headers: map[string]string{"X": "1"}}, Rule{Patterns: mustPatterns(t, "/a"), Headers: map[string]string{"Y": "2"}}, true},
		{"contradicting accept params", Rule{Patterns: mustPatterns(t, "/a"), AcceptParams: map[string]string{"version": "1"}}, Rule{Patterns: mustPatterns(t, "/a"), AcceptParams: map[string]string{"version": "2"}}, false},
		{"an accept param is a condition", Rule{Patterns: mustPatterns(t, "/a")}, Rule{Patterns: mustPatterns(t, "/a"), AcceptParams: map[string]string{"version": "2"}}, false},
		{"accept param beside a header", Rule{Patterns: mustPatterns(t, "/a"), Headers: map[string]string{"X": "1"}}, Rule{Patterns: mustPatterns(t, "/a"), AcceptParams: map[string]string{"version": "2"}}, true},
		{"catch-all vs exact", Rule{Patterns: mustPatterns(t, "/a/**")}, Rule{Patterns: mustPatterns(t, "/a")}, false},
		{"two catch-alls", Rule{Patterns: mustPatterns(t, "/a/**")}, Rule{Patterns: mustPatterns(t, "/a/**")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder()
			tt.a.ID, tt.b.ID = 0, 1
			b.Add(tt.a)
			got := len(b.Add(tt.b)) > 0
			if got != tt.want {
				t.Errorf("conflict = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, p := range []string{"v1", "/a/**/b", "/a/{}", "/a/{x}/{x}", "/a/x{y}", "/a//b", "/a/../b", "/a/%2F", "/a/{b-c}"} {
		if _, err := ParsePattern(p); err == nil {
			t.Errorf("ParsePattern(%q) succeeded, want an error", p)
		}
	}
}

// manyRoutes builds n routes of the shape real APIs have: a service
// prefix, a resource, an id, a sub-resource.
func manyRoutes(b testing.TB, n int) *Table {
	bl := NewBuilder()
	for i := range n {
		pats := mustPatterns(b, fmt.Sprintf("/svc%d/v1/items", i), fmt.Sprintf("/svc%d/v1/items/{id}", i), fmt.Sprintf("/svc%d/v1/items/{id}/parts/**", i))
		if c := bl.Add(Rule{ID: i, Patterns: pats, Methods: GET | POST}); len(c) > 0 {
			b.Fatal(c[0])
		}
	}
	return bl.Build()
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		tab := manyRoutes(b, n)
		h := http.Header{"Accept": {"*/*"}}
		path := fmt.Sprintf("/svc%d/v1/items/12345/parts/a/b", n/2)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			var m Match
			b.ReportAllocs()
			for b.Loop() {
				if tab.Lookup("api.example.com", "GET", path, h, &m) != Found {
					b.Fatal("no match")
				}
			}
		})
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	tab := manyRoutes(t, 100)
	h := http.Header{}
	var m Match
	allocs := testing.AllocsPerRun(100, func() {
		tab.Lookup("API.example.com:443", "GET", "/svc5/v1/items/9/parts/x", h, &m)
		tab.Lookup("api.example.com", "DELETE", "/svc5/v1/items/9", h, &m)
	})
	// Uppercase hosts are lowercased once (one allocation); nothing else.
	if allocs > 1 {
		t.Errorf("Lookup allocates %.0f times, want at most 1 (host lowercasing)", allocs)
	}
}

func FuzzLookup(f *testing.F) {
	tab := build(f,
		Rule{ID: 0, Patterns: mustPatterns(f, "/v1/orders/{id}", "/v1/orders/**"), Methods: GET},
		Rule{ID: 1, Hosts: []string{"*.example.com"}, Patterns: mustPatterns(f, "/**")},
		Rule{ID: 2, Patterns: mustPatterns(f, "/a/{b}/c/{d}/e/{f}/g")},
	)
	for _, s := range []string{"/v1/orders/1", "/", "", "//", "/a/1/c/2/e/3/g", "/v1/orders/../x"} {
		f.Add("x.example.com", "GET", s)
	}
	f.Fuzz(func(t *testing.T, host, method, path string) {
		var m Match
		switch tab.Lookup(host, method, path, http.Header{}, &m) {
		case Found:
			if m.ID < 0 || m.ID > 2 {
				t.Fatalf("bad id %d", m.ID)
			}
			// Every captured param is a non-empty segment of the path.
			for _, name := range []string{"id", "b", "d", "f"} {
				if v := m.Param(name); v != "" && (strings.Contains(v, "/") || !strings.Contains(path, v)) {
					t.Fatalf("param %s = %q not a segment of %q", name, v, path)
				}
			}
		case MethodNotAllowed:
			if m.Allow == 0 {
				t.Fatal("405 without Allow")
			}
		}
	})
}

// TestPatternMatchAgreesWithTable: Pattern.Match, which role rules use,
// says yes exactly when a table holding only that pattern finds it.
func TestPatternMatchAgreesWithTable(t *testing.T) {
	patterns := []string{"/", "/v1/orders", "/v1/orders/{id}", "/v1/orders/**", "/v1/{a}/x/{b}", "/**", "/v1/orders/"}
	paths := []string{"/", "/v1", "/v1/orders", "/v1/orders/", "/v1/orders/42", "/v1/orders/42/items", "/v1/x/x/y",
		"/v1/a/x/", "/v1/a/x/b/c", "/v2/orders", "//", "/v1//orders"}
	for _, ps := range patterns {
		p, err := ParsePattern(ps)
		if err != nil {
			t.Fatal(err)
		}
		tab := build(t, Rule{ID: 0, Patterns: []*Pattern{p}})
		for _, path := range paths {
			var m Match
			want := tab.Lookup("h", "GET", path, http.Header{}, &m) == Found
			if got := p.Match(path); got != want {
				t.Errorf("pattern %s, path %s: Match %v, table %v", ps, path, got, want)
			}
		}
	}
}
