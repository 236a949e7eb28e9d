package guard

import (
	"bytes"
	"strings"
	"testing"
)

// feedAll feeds raw in pieces of size step (all at once when step is 0)
// and returns what passed and the refusal's reason, if any.
func feedAll(raw string, step int) (string, string) {
	w := Wire{MaxHeader: 1024}
	var out []byte
	in := []byte(raw)
	for len(in) > 0 {
		n := len(in)
		if step > 0 {
			n = min(step, n)
		}
		var err *WireError
		out, err = w.Feed(out, in[:n])
		if err != nil {
			return string(out), err.Reason
		}
		in = in[n:]
	}
	return string(out), ""
}

func TestWire(t *testing.T) {
	const get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name, raw string
		reason    string // "" when every byte passes
		passed    string // what passed before the refusal
	}{
		{"plain GET", get, "", ""},
		{"pipelined GETs", get + get + get, "", ""},
		{"content-length body then GET", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + get, "", ""},
		{"chunked body with extension and trailer, then GET", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n" + get, "", ""},
		{"chunked spelled in capitals", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n", "", ""},
		{"header-looking body is not checked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\nTransfer-Encoding: x\r\n\r\n\x00\x00" + get, "", ""},
		{"websocket upgrade then frames", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00\r\n\x00 garbage", "", ""},
		{"h2c prior knowledge", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04", "", ""},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "content_length_and_transfer_encoding", ""},
		{"TE then CL", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", "content_length_and_transfer_encoding", ""},
		{"identical duplicate CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", "duplicate_content_length", ""},
		{"conflicting CL", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "duplicate_content_length", ""},
		{"CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\na", "invalid_content_length", ""},
		{"CL with sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", "invalid_content_length", ""},
		{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "unsupported_transfer_encoding", ""},
		{"TE xchunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", "unsupported_transfer_encoding", ""},
		{"TE twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", "duplicate_transfer_encoding", ""},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "transfer_encoding_http10", ""},
		{"space before colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", "invalid_header_name", ""},
		{"invalid name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): a\r\n\r\n", "invalid_header_name", ""},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", "invalid_header_name", ""},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", "obs_fold", ""},
		{"bare LF", "GET / HTTP/1.1\nHost: x\n\n", "bare_lf", ""},
		{"bare LF in one header", "GET / HTTP/1.1\r\nHost: x\nX-A: a\r\n\r\n", "bare_lf", ""},
		{"bare CR", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", "bare_cr", ""},
		{"NUL", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "nul_byte", ""},
		{"control byte", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x1bb\r\n\r\n", "control_character", ""},
		{"two spaces in request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", "malformed_request_line", ""},
		{"headers too large", "GET / HTTP/1.1\r\nX-A: " + string(bytes.Repeat([]byte("a"), 2000)) + "\r\n\r\n", "headers_too_large", ""},
		{"smuggled after a good request", get + "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "content_length_and_transfer_encoding", get},
		{"smuggled after a chunked body", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
			"obs_fold", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		// What net/http would answer in plain text is refused here, as a
		// problem: the request target and Host.
		{"a bad escape in the path", "GET /a%zzb HTTP/1.1\r\nHost: x\r\n\r\n", "invalid_request_target", ""},
		{"a % at the end of the path", "GET /a% HTTP/1.1\r\nHost: x\r\n\r\n", "invalid_request_target", ""},
		{"a relative target", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", "invalid_request_target", ""},
		{"an absolute target with a bad escape", "GET http://x/%g0 HTTP/1.1\r\nHost: x\r\n\r\n", "invalid_request_target", ""},
		{"no Host on HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "missing_host", ""},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "duplicate_host", ""},
		{"a Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid_host", ""},
		{"escapes, a bad one in the query", "GET /a%20b/%2F?q=%zz&r=100% HTTP/1.1\r\nHost: x\r\n\r\n", "", ""},
		{"absolute-form", "GET http://x:8080/a%20b HTTP/1.1\r\nHost: x:8080\r\n\r\n", "", ""},
		{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "", ""},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", "", ""},
		{"CONNECT without Host", "CONNECT x:443 HTTP/1.1\r\n\r\n", "", ""},
	}
	for _, tt := range tests {
		for _, step := range []int{0, 1, 7} {
			passed, reason := feedAll(tt.raw, step)
			if reason != tt.reason {
				t.Errorf("%s (step %d): reason %q, want %q", tt.name, step, reason, tt.reason)
				continue
			}
			want := tt.raw
			if tt.reason != "" {
				want = tt.passed
			}
			if passed != want {
				t.Errorf("%s (step %d): passed %q, want %q", tt.name, step, passed, want)
			}
		}
	}
}

// TestBlockEnd compares blockEnd with the plain definition (the first
// LF followed by LF or CRLF at or after start), on heads that end in
// every way and on held bytes searched from the middle.
func TestBlockEnd(t *testing.T) {
	ref := func(b []byte, start int) int {
		for i := start; i < len(b); i++ {
			if b[i] == '\n' && i+1 < len(b) && b[i+1] == '\n' {
				return i + 2
			}
			if b[i] == '\n' && i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
				return i + 3
			}
		}
		return -1
	}
	long := "Authorization: Bearer " + strings.Repeat("eyJhbGciOiJFUzI1NiJ9", 40) + "\r\n"
	for _, tc := range []struct {
		in    string
		start int
		want  int
	}{
		{"GET / HTTP/1.1\r\n\r\n", 0, 18},
		{"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0, 18},
		{"GET / HTTP/1.1\n\n", 0, 16},
		{"GET / HTTP/1.1\r\nHost: a\r\n\n", 0, 26},
		{"GET / HTTP/1.1\r\nHost: a\r\n", 0, -1},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", 0, -1},
		{"\n\n", 0, 2},
		{"\n", 0, -1},
		{"", 0, -1},
		{"GET / HTTP/1.1\r\n" + long + "\r\n", 0, 16 + len(long) + 2},
		{"GET / HTTP/1.1\r\n" + long + "\r\n", 14, 16 + len(long) + 2}, // resumed just before a CRLF
		{"GET / HTTP/1.1\r\n\r\n", 17, -1},                             // resumed past the LF that starts the end
	} {
		if got := blockEnd([]byte(tc.in), tc.start); got != tc.want || got != ref([]byte(tc.in), tc.start) {
			t.Errorf("blockEnd(%.60q, %d) = %d, want %d (reference %d)", tc.in, tc.start, got, tc.want, ref([]byte(tc.in), tc.start))
		}
	}
}

// FuzzWire checks that Wire never changes, drops or reorders bytes: what
// it passes is always a prefix of the input, the same whether the input
// comes at once or byte by byte, and refused at the same block.
func FuzzWire(f *testing.F) {
	f.Add([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n"), uint8(3))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), uint8(1))
	f.Add([]byte("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), uint8(0))
	f.Fuzz(func(t *testing.T, raw []byte, step uint8) {
		whole, wholeReason := feedAll(string(raw), 0)
		split, splitReason := feedAll(string(raw), int(step))
		if !bytes.HasPrefix(raw, []byte(whole)) || !bytes.HasPrefix(raw, []byte(split)) {
			t.Fatalf("passed bytes are not a prefix of the input")
		}
		if wholeReason != splitReason {
			t.Fatalf("reason %q at once, %q in steps of %d", wholeReason, splitReason, step)
		}
		if len(split) != len(whole) {
			t.Fatalf("passed %d bytes in steps of %d, %d at once", len(split), step, len(whole))
		}
	})
}

// BenchmarkWire feeds request heads as one read, as a keep-alive
// connection delivers them: a typical API request (browser-sized head,
// 1 KiB JSON body), and a GET with a 280-byte ES256 bearer token.
func BenchmarkWire(b *testing.B) {
	token := "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjIiwidHlwIjoiSldUIn0." + strings.Repeat("eyJhdWQiOiJiZW5jaCIsImV4cCI6", 5) + "." + strings.Repeat("c2ln", 21)
	for _, tc := range []struct{ name, raw string }{
		{"post", "POST /v1/orders HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0\r\n" +
			"Accept: application/json\r\nAccept-Encoding: gzip, br\r\nAuthorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln\r\n" +
			"Content-Type: application/json\r\nContent-Length: 1024\r\n\r\n" + strings.Repeat("x", 1024)},
		{"jwt", "GET /jwt/api/v1/items?page=2&sort=name&q=widget HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: application/json\r\n" +
			"User-Agent: rampart-bench/1\r\nX-Client-Version: 4.2\r\nAuthorization: Bearer " + token + "\r\n\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			raw := []byte(tc.raw)
			w := Wire{MaxHeader: 64 << 10}
			out := make([]byte, 0, 4096)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				var err *WireError
				if out, err = w.Feed(out[:0], raw); err != nil {
					b.Fatal(err.Reason)
				}
			}
		})
	}
}
