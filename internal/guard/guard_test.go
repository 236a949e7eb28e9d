package guard

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

func prefixes(t testing.TB, ss ...string) Trusted {
	var out Trusted
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestClientIP(t *testing.T) {
	trusted := prefixes(t, "10.0.0.0/8", "2001:db8::/32")
	tests := []struct {
		name, peer string
		xff        []string
		trusted    Trusted
		want       string
	}{
		{"no proxies configured ignores XFF", "203.0.113.9", []string{"1.2.3.4"}, nil, "203.0.113.9"},
		{"untrusted peer ignores XFF", "203.0.113.9", []string{"1.2.3.4"}, trusted, "203.0.113.9"},
		{"trusted peer, one hop", "10.0.0.1", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"rightmost untrusted wins over forged left", "10.0.0.1", []string{"6.6.6.6, 198.51.100.7, 10.1.1.1"}, trusted, "198.51.100.7"},
		{"several header lines", "10.0.0.1", []string{"6.6.6.6", "198.51.100.7"}, trusted, "198.51.100.7"},
		{"all trusted takes leftmost", "10.0.0.1", []string{"10.9.9.9, 10.1.1.1"}, trusted, "10.9.9.9"},
		{"garbage stops the walk", "10.0.0.1", []string{"6.6.6.6, not-an-ip, 10.1.1.1"}, trusted, "10.1.1.1"},
		{"port and spaces", "10.0.0.1", []string{" 198.51.100.7:5555 "}, trusted, "198.51.100.7"},
		{"ipv6 bracketed", "2001:db8::1", []string{"[2001:db8:ffff::1]:443, [2a00::5]"}, trusted, "2a00::5"},
		{"mapped v4 peer", "::ffff:10.0.0.1", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"zone rejected", "10.0.0.1", []string{"fe80::1%eth0"}, trusted, "10.0.0.1"},
		{"empty elements", "10.0.0.1", []string{",,"}, trusted, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClientIP(netip.MustParseAddr(tt.peer), tt.xff, tt.trusted)
			if got.String() != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPDoesNotAllocate(t *testing.T) {
	trusted := prefixes(t, "10.0.0.0/8")
	peer := netip.MustParseAddr("10.0.0.1")
	xff := []string{"6.6.6.6, 198.51.100.7, 10.1.1.1"}
	if n := testing.AllocsPerRun(100, func() { ClientIP(peer, xff, trusted) }); n != 0 {
		t.Errorf("ClientIP allocates %.0f times", n)
	}
}

// FuzzClientIP: the result is always the peer or an address that appears
// in the header, and never a trusted proxy unless every hop is trusted.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "6.6.6.6, 198.51.100.7, 10.1.1.1", "[::1]:80", ",,,", "10.1.1.1, garbage", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	trusted := prefixes(f, "10.0.0.0/8")
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, xff string) {
		got := ClientIP(peer, []string{xff}, trusted)
		if !got.IsValid() {
			t.Fatal("invalid address returned")
		}
		if got == peer {
			return
		}
		found := false
		for hop := range strings.SplitSeq(xff, ",") {
			if a, ok := parseHop(hop); ok && a == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("ClientIP = %s, not in %q", got, xff)
		}
	})
}

func TestSanitize(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header = http.Header{
		"X-Forwarded-For":        {"6.6.6.6"},
		"Forwarded":              {"for=6.6.6.6"},
		"X-Real-Ip":              {"6.6.6.6"},
		"X-Original-Url":         {"/admin"},
		"X-Http-Method-Override": {"DELETE"},
		"X-Rampart-Consumer":     {"admin"},
		"X-Rampart-Scopes":       {"*"},
		"Connection":             {"keep-alive, X-Secret-Hop, X-Request-Id"},
		"X-Secret-Hop":           {"1"},
		"X-Request-Id":           {"keep-me"},
		"Keep-Alive":             {"timeout=5"},
		"Te":                     {"trailers"},
		"Accept":                 {"application/json"},
	}
	r.TransferEncoding = []string{"chunked"}
	st := &reqctx.State{}
	if up := Sanitize(r, false, st); up != "" {
		t.Errorf("upgrade = %q for a plain request", up)
	}
	// What the client sent of its connection is kept for the WAF.
	kept := map[string]string{}
	for _, f := range st.ClientHopByHop {
		kept[f.Name] = strings.Join(f.Values, ",")
	}
	want := map[string]string{"Transfer-Encoding": "chunked", "Connection": "keep-alive, X-Secret-Hop, X-Request-Id", "Keep-Alive": "timeout=5",
		"Te": "trailers", "X-Secret-Hop": "1"}
	if !maps.Equal(kept, want) {
		t.Errorf("ClientHopByHop = %v, want %v", kept, want)
	}
	for _, k := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip", "X-Original-Url", "X-Http-Method-Override", "X-Rampart-Consumer", "X-Rampart-Scopes", "Connection", "X-Secret-Hop", "Keep-Alive", "Te"} {
		if _, ok := r.Header[k]; ok {
			t.Errorf("%s survived sanitising", k)
		}
	}
	for _, k := range []string{"Accept", "X-Request-Id"} {
		if r.Header.Get(k) == "" {
			t.Errorf("%s was removed", k)
		}
	}
	ws := httptest.NewRequest("GET", "/ws", nil)
	ws.Header.Set("Connection", "keep-alive, Upgrade")
	ws.Header.Set("Upgrade", "websocket")
	if up := Sanitize(ws, false, &reqctx.State{}); up != "websocket" {
		t.Errorf("websocket upgrade = %q", up)
	}
	h2c := httptest.NewRequest("GET", "/", nil)
	h2c.Header.Set("Connection", "Upgrade, HTTP2-Settings")
	h2c.Header.Set("Upgrade", "h2c")
	if up := Sanitize(h2c, false, &reqctx.State{}); up != "" || h2c.Header.Get("Upgrade") != "" {
		t.Errorf("h2c upgrade must not pass: %q", up)
	}
}

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		target, path, raw string // raw: the escaped form, when it differs from path
		encodedSlash      bool
		params            bool // a ';' parameter, kept
		refused           bool
	}{
		{target: "/v1/orders/1", path: "/v1/orders/1"},
		{target: "/", path: "/"},
		{target: "/a/b/", path: "/a/b/"},
		{target: "/a.b/c..d/.e", path: "/a.b/c..d/.e"},
		{target: "/a%20b", path: "/a b"},
		{target: "/a%7eb%41", path: "/a~bA"},
		{target: "/a%3bb", path: "/a;b", raw: "/a%3Bb"},
		{target: "/a/../b", path: "/b"},
		{target: "/a/./b", path: "/a/b"},
		{target: "/a/b/..", path: "/a/"},
		{target: "/a/.", path: "/a/"},
		{target: "/a//b///c", path: "/a/b/c"},
		{target: "//a", path: "/a"},
		{target: "/a/%2e%2e/b", path: "/b"},
		{target: "/a/%2E/b", path: "/a/b"},
		{target: "/a%2fb", path: "/a/b", raw: "/a%2Fb", encodedSlash: true},
		{target: "/a%5Cb/../c", path: "/c", encodedSlash: true},
		{target: "/a/..%2fb", path: "/a/../b", raw: "/a/..%2Fb", encodedSlash: true},
		{target: "/..", refused: true},
		{target: "/a/../../etc/passwd", refused: true},
		{target: "/%2e%2e/x", refused: true},
		{target: "/a\\b", path: "/a\\b", raw: "/a%5Cb", encodedSlash: true}, // a raw backslash is escaped as %5C
		{target: "/a%00b", refused: true},
		// What a server behind the gateway resolves another way.
		{target: "/api/..;/admin/x", refused: true},
		{target: "/api/x/..;jsessionid=1/admin", refused: true},
		{target: "/api/.;x/admin", refused: true},
		{target: "/api/..%3b/admin", refused: true},
		{target: "/api/%2e%2e;/admin", refused: true},
		{target: "/api/%252e%252e/admin/x", refused: true},
		{target: "/api/..%252fadmin/x", refused: true},
		// An escape whose hex digits are themselves escaped: decoding
		// them once makes %252e, which a server decoding twice reads as "."
		{target: "/api/%25%32e%25%32e/admin/x", refused: true},
		{target: "/api/%25%32%45/x", refused: true},
		{target: "/api/%25%410", refused: true},
		{target: "/api/%25%2F", path: "/api/%/", raw: "/api/%25%2F", encodedSlash: true}, // %25 then an escaped slash: no hex digits follow
		{target: "/api/%c0%ae%c0%ae/admin/x", refused: true},
		{target: "/api/%ff", refused: true},
		{target: "/caf%C3%A9", path: "/café"},
		{target: "/100%25", path: "/100%", raw: "/100%25"},
		{target: "/api;/admin/x", path: "/api;/admin/x", params: true},
		{target: "/a;v=1/b", path: "/a;v=1/b", params: true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "http://x"+tt.target, nil)
		flags, msg := NormalizePath(r, false)
		slash := flags.EncodedSlash
		if (msg != "") != tt.refused {
			t.Errorf("%q: refused = %q, want refused %v", tt.target, msg, tt.refused)
			continue
		}
		if tt.refused {
			continue
		}
		raw := tt.raw
		if raw == "" {
			raw = (&url.URL{Path: tt.path}).EscapedPath()
		}
		if r.URL.Path != tt.path || r.URL.EscapedPath() != raw || slash != tt.encodedSlash || flags.Parameters != tt.params {
			t.Errorf("%q: path %q escaped %q slash %v params %v, want %q %q %v %v", tt.target, r.URL.Path, r.URL.EscapedPath(), slash,
				flags.Parameters, tt.path, raw, tt.encodedSlash, tt.params)
		}
	}
}

// TestNormalizePathStripsParameters: with stripParams the router and the
// upstream get the path a parameter-dropping server would resolve.
func TestNormalizePathStripsParameters(t *testing.T) {
	for target, want := range map[string]string{
		"/api;/admin/x":     "/api/admin/x",
		"/a;v=1/b;c/d":      "/a/b/d",
		"/a/;x/b":           "/a/b",
		"/a/b;x/../c":       "/a/c",
		"/a%3bb":            "/a;b", // an encoded ';' is data, not a parameter
		"/plain/path?q=a;b": "/plain/path",
	} {
		r := httptest.NewRequest("GET", "http://x"+target, nil)
		if _, msg := NormalizePath(r, true); msg != "" || r.URL.Path != want {
			t.Errorf("%q: %q (%s), want %q", target, r.URL.Path, msg, want)
		}
	}
}

// FuzzNormalizePath checks that a normalised path is in normal form (a
// second pass changes nothing), never climbs above the root and keeps no
// dot or empty segment.
// escapedEscapeRE is an escaped '%' followed by two hex digits.
var escapedEscapeRE = regexp.MustCompile(`(?i)%25[0-9a-f]{2}`)

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/a/../b", "/a%2fb/./c//", "/%2e%2E/x", "/a%7e%41%3b", "/a/..;/b", "/a/%252e/b", "/%c0%ae/x", "/a;x=1/b", "/%25%32e%25%32e/admin"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, p string, strip bool) {
		u, err := url.ParseRequestURI(p)
		if err != nil || u.Path == "" || u.Path[0] != '/' {
			return
		}
		r := &http.Request{Method: "GET", URL: u, RequestURI: p}
		if _, msg := NormalizePath(r, strip); msg != "" {
			return
		}
		once := r.URL.EscapedPath()
		if _, msg := NormalizePath(r, strip); msg != "" || r.URL.EscapedPath() != once {
			t.Fatalf("%q: first pass %q, second %q (%s)", p, once, r.URL.EscapedPath(), msg)
		}
		if !utf8.ValidString(r.URL.Path) {
			t.Fatalf("%q normalised to %q, which is not UTF-8", p, r.URL.Path)
		}
		for seg := range strings.SplitSeq(once[1:], "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("%q normalised to %q, which keeps a dot segment", p, once)
			}
			// A server that decodes once more, or drops parameters
			// (before or after decoding), must not find one either.
			dec, err := url.PathUnescape(seg)
			if err != nil {
				continue
			}
			for _, s := range []string{dec, strings.SplitN(seg, ";", 2)[0], strings.SplitN(dec, ";", 2)[0]} {
				if s == "." || s == ".." {
					t.Fatalf("%q normalised to %q, whose segment %q a server may read as %q", p, once, seg, s)
				}
			}
		}
		if strings.Contains(once, "//") {
			t.Fatalf("%q normalised to %q, which keeps an empty segment", p, once)
		}
		// Nor may a server that decodes twice find an escape the first
		// decoding made.
		if escapedEscapeRE.MatchString(once) {
			t.Fatalf("%q normalised to %q, which holds an escaped escape", p, once)
		}
	})
}

func TestReadAll(t *testing.T) {
	errLimit := errors.New("over the limit")
	for _, tc := range []struct {
		name     string
		body     io.Reader
		n, limit int64
		want     string
		err      error
	}{
		{"sized", strings.NewReader("hello"), 5, 0, "hello", nil},
		{"unknown length", strings.NewReader("hello"), -1, 0, "hello", nil},
		{"over the limit: read as it comes", strings.NewReader("hello"), 5, 4, "hello", nil},
		{"short", strings.NewReader("hel"), 5, 0, "", io.ErrUnexpectedEOF},
		{"a fault after the length", io.MultiReader(strings.NewReader("hello"), iotest.ErrReader(errLimit)), 5, 0, "", errLimit},
	} {
		got, err := readAll(tc.body, tc.n, tc.limit)
		if string(got) != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("%s: %q %v, want %q %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
