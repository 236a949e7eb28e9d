package proxy

import (
	"bufio"
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/bytescan"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// headCase is an inbound request after the stages, and what they set.
type headCase struct {
	name    string
	method  string
	target  string // inbound, as the client sent it
	body    string
	header  http.Header
	path    string // upstream path; "" keeps the inbound one
	set     []reqctx.Field
	trace   string
	tls     bool
	forceQs bool
}

func (c headCase) build(t testing.TB) (*http.Request, *head) {
	t.Helper()
	r, st, out := c.parts(t)
	return out, newHead(r, st)
}

// parts returns the inbound request, its state, and the upstream request
// without its head.
func (c headCase) parts(t testing.TB) (*http.Request, *reqctx.State, *http.Request) {
	t.Helper()
	r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
	r.Header = c.header
	if r.Header == nil {
		r.Header = http.Header{}
	}
	st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.7"), TraceParent: c.trace, TLS: c.tls}
	st.AccessRecord.ClientIP = "192.0.2.7"
	st.RequestID = "req-1"
	for _, f := range c.set {
		st.SetUpstream(f.Name, f.Values)
	}
	path := c.path
	if path == "" {
		path = r.URL.Path
	}
	target := &Target{URL: &url.URL{Scheme: "http", Host: "127.0.0.1:9000"}}
	var body *trackedBody
	if c.body != "" {
		body = &trackedBody{ReadCloser: io.NopCloser(strings.NewReader(c.body))}
	}
	out := newOutbound(t.Context(), r, target, path, body)
	out.URL.ForceQuery = c.forceQs
	return r, st, out
}

var headCases = []headCase{
	{name: "get", method: "GET", target: "http://api.example.com/items?page=2&sort=name",
		header: http.Header{"Accept": {"application/json"}, "User-Agent": {"curl/8"}}},
	{name: "no user agent", method: "GET", target: "http://api.example.com/"},
	{name: "post body", method: "POST", target: "http://api.example.com/orders", body: `{"id":1}`,
		header: http.Header{"Content-Type": {"application/json"}}},
	{name: "post empty", method: "POST", target: "http://api.example.com/orders"},
	{name: "put empty", method: "PUT", target: "http://api.example.com/orders/1"},
	{name: "delete", method: "DELETE", target: "http://api.example.com/orders/1"},
	{name: "head", method: "HEAD", target: "http://api.example.com/orders/1"},
	{name: "escaped path kept", method: "GET", target: "http://api.example.com/files/a%2Fb?x=1"},
	{name: "rewritten path", method: "GET", target: "http://api.example.com/v1/a%20b", path: "/a b/ü"},
	{name: "empty query", method: "GET", target: "http://api.example.com/x", forceQs: true},
	{name: "multiple values", method: "GET", target: "http://api.example.com/",
		header: http.Header{"Accept": {"a/b", "c/d"}, "Cookie": {"a=1; b=2"}, "X-Custom": {"1", "2", "3"}}},
	{name: "stage fields win", method: "GET", target: "http://api.example.com/", trace: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		header: http.Header{"X-Rampart-Consumer": {"spoofed"}, "Range": {"bytes=0-1"}, "Accept-Encoding": {"gzip"}, "Traceparent": {"00-client"}},
		set: []reqctx.Field{{Name: "X-Rampart-Consumer", Values: []string{"alice"}}, {Name: "Range"}, {Name: "Accept-Encoding", Values: []string{"identity"}},
			{Name: "x-rampart-scopes", Values: []string{"a b"}}, {Name: "X-Rampart-Consumer", Values: []string{"bob"}}}},
	{name: "stage overrides forwarding", method: "GET", target: "http://api.example.com/", tls: true,
		set: []reqctx.Field{{Name: "X-Request-Id", Values: []string{"from-stage"}}}},
	{name: "client forwarding replaced", method: "GET", target: "http://api.example.com/",
		header: http.Header{"X-Forwarded-For": {"10.0.0.1"}, "X-Forwarded-Host": {"evil"}, "X-Forwarded-Proto": {"https"}, "X-Request-Id": {"client"}}},
}

// TestHeadWriteMatchesRequestWrite: what the synchronous client writes
// reads back, with net/http's parser, as the same request as net/http's
// own writer sends with the head as a map.
func TestHeadWriteMatchesRequestWrite(t *testing.T) {
	for _, c := range headCases {
		t.Run(c.name, func(t *testing.T) {
			out, h := c.build(t)
			mine := wire(t, h, out)

			out2, h2 := c.build(t)
			out2.Header = h2.header()
			var theirs bytes.Buffer
			if err := out2.Write(&theirs); err != nil {
				t.Fatal(err)
			}
			got, want := readBack(t, mine), readBack(t, theirs.Bytes())
			if got.Method != want.Method || got.RequestURI != want.RequestURI || got.Host != want.Host ||
				got.ContentLength != want.ContentLength || got.body != want.body {
				t.Errorf("request differs:\nmine:   %s %s host=%s len=%d body=%q\ntheirs: %s %s host=%s len=%d body=%q",
					got.Method, got.RequestURI, got.Host, got.ContentLength, got.body, want.Method, want.RequestURI, want.Host, want.ContentLength, want.body)
			}
			if !maps.EqualFunc(got.Header, want.Header, slices.Equal) {
				t.Errorf("header differs:\nmine:   %v\ntheirs: %v\nwire:\n%s", got.Header, want.Header, mine)
			}
		})
	}
}

// TestHeadForwardingAndStageFields checks the values themselves.
func TestHeadForwardingAndStageFields(t *testing.T) {
	c := headCases[11] // stage fields win
	out, h := c.build(t)
	got := writeAndRead(t, h, out)
	want := map[string]string{
		"X-Rampart-Consumer": "bob", "X-Rampart-Scopes": "a b", "Accept-Encoding": "identity", "Range": "",
		"Traceparent": c.trace, "X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "http",
		"X-Forwarded-Host": "api.example.com", "X-Request-Id": "req-1",
	}
	for k, v := range want {
		if g := strings.Join(got.Header[k], ","); g != v {
			t.Errorf("%s = %q, want %q", k, g, v)
		}
	}
	if got.Host != "127.0.0.1:9000" {
		t.Errorf("Host = %q", got.Host)
	}
}

// TestHeadValuesCannotInject: a value from a credential (a consumer id in
// a token's sub) cannot add a header, split the request, or smuggle a
// body; a name that is not a token is dropped.
func TestHeadValuesCannotInject(t *testing.T) {
	tests := []struct {
		value string
		want  string
	}{
		{"alice\r\nX-Admin: 1", "alice  X-Admin: 1"},
		{"alice\nX-Admin: 1", "alice X-Admin: 1"},
		{"alice\r\n\r\nGET /admin HTTP/1.1", "alice    GET /admin HTTP/1.1"},
		{"a\x00b\x7fc\x1bd", "a b c d"},
		{"\x00lead and trail\x1f", "lead and trail"},
		{"  padded\t", "padded"},
		{"tab\tinside", "tab\tinside"},
		{"üñí©ødé", "üñí©ødé"},
	}
	for _, tt := range tests {
		c := headCase{method: "GET", target: "http://api.example.com/",
			set: []reqctx.Field{{Name: "X-Rampart-Consumer", Values: []string{tt.value}}, {Name: "Bad Name", Values: []string{"x"}}}}
		out, h := c.build(t)
		got := writeAndRead(t, h, out)
		if g := got.Header.Get("X-Rampart-Consumer"); g != tt.want {
			t.Errorf("%q: sent as %q, want %q", tt.value, g, tt.want)
		}
		// net/http's Transport (TLS upstreams, large bodies) gets the
		// same value, which it would otherwise refuse to send.
		if g := h.header().Get("X-Rampart-Consumer"); g != tt.want {
			t.Errorf("%q: in the map as %q, want %q", tt.value, g, tt.want)
		}
		if _, ok := h.header()["Bad Name"]; ok {
			t.Errorf("%q: the map keeps an invalid name, for which net/http's Transport refuses the request", tt.value)
		}
		if got.Header.Get("X-Admin") != "" || got.RequestURI != "/" {
			t.Errorf("%q: injected a header or a request: %v %s", tt.value, got.Header, got.RequestURI)
		}
		for k := range got.Header {
			if strings.Contains(k, " ") {
				t.Errorf("invalid name %q sent", k)
			}
		}
	}
}

// FuzzHeadValue: whatever a stage sets, the upstream reads one request,
// with exactly the headers the head holds, and the value back without
// control characters.
func FuzzHeadValue(f *testing.F) {
	for _, s := range []string{"alice", "a\r\nb: c", "\x00", "\t x \t", "ü", "a\r\n\r\nGET / HTTP/1.1\r\n\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		c := headCase{method: "POST", target: "http://api.example.com/x", body: "hello",
			set: []reqctx.Field{{Name: "X-Rampart-Consumer", Values: []string{v}}}}
		out, h := c.build(t)
		raw := wire(t, h, out)
		br := bufio.NewReader(bytes.NewReader(raw))
		got, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("the upstream cannot read the request: %v\n%q", err, raw)
		}
		body, _ := io.ReadAll(got.Body)
		if string(body) != "hello" || br.Buffered() != 0 {
			t.Fatalf("body %q, %d bytes left over", body, br.Buffered())
		}
		names := slices.Sorted(maps.Keys(got.Header))
		want := []string{"Content-Length", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Rampart-Consumer", "X-Request-Id"}
		if !slices.Equal(names, want) {
			t.Fatalf("headers %v, want %v\n%q", names, want, raw)
		}
		if g := got.Header.Get("X-Rampart-Consumer"); bytescan.HasControl(g) {
			t.Fatalf("control character reached the upstream: %q", g)
		}
	})
}

type readRequest struct {
	*http.Request
	body string
}

func readBack(t *testing.T, wire []byte) readRequest {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(wire))
	req, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("read back: %v\n%s", err, wire)
	}
	b, _ := io.ReadAll(req.Body)
	if br.Buffered() != 0 {
		t.Fatalf("%d bytes after the request:\n%s", br.Buffered(), wire)
	}
	return readRequest{req, string(b)}
}

// wire is what the synchronous client sends for out with head h.
func wire(t *testing.T, h *head, out *http.Request) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := h.write(bw, out); err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	return buf.Bytes()
}

func writeAndRead(t *testing.T, h *head, out *http.Request) readRequest {
	t.Helper()
	return readBack(t, wire(t, h, out))
}

// BenchmarkHead compares writing the head of a JWT-authenticated request
// (client headers, forwarding headers, identity headers) straight to the
// connection with building the map and calling Request.Write.
func BenchmarkHead(b *testing.B) {
	c := headCase{method: "GET", target: "http://api.example.com/api/v1/items?page=2&sort=name",
		header: http.Header{"Accept": {"application/json"}, "User-Agent": {"bench/1"}},
		set: []reqctx.Field{{Name: "X-Rampart-Consumer", Values: []string{"bench-client"}}, {Name: "X-Rampart-Scopes", Values: []string{"items:read"}},
			{Name: "X-Rampart-Assertion", Values: []string{strings.Repeat("eyJhbGciOiJFUzI1NiJ9", 20)}}}}
	bw := bufio.NewWriterSize(io.Discard, 16<<10)
	r, st, out := c.parts(b)
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = newHead(r, st).write(bw, out)
		}
	})
	b.Run("map+Request.Write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out.Header = newHead(r, st).header()
			_ = out.Write(bw)
		}
	})
}
