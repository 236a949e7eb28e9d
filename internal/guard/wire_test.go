package guard

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// feedAll feeds raw in pieces of size step (all at once when step is 0)
// and returns what passed and the refusal's reason, if any.
func feedAll(raw string, step int) (string, string) {
	w := Wire{MaxHeader: 1024}
	out, err := feedSteps(&w, raw, step)
	switch {
	case err != nil:
		return string(out), err.Reason
	case w.Holding():
		return string(out), "held"
	}
	return string(out), ""
}

const (
	get     = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	chunked = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
)

func TestWire(t *testing.T) {
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
		// After an upgrade request the wire holds what follows until it
		// is told the outcome (TestWireUpgrade).
		{"websocket upgrade then frames are held", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00\r\n\x00 garbage", "held",
			"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"},
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
		{"Expect other than 100-continue", "GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", "unsupported_expectation", ""},
		{"Expect listing 100-continue and more", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, magic\r\nContent-Length: 1\r\n\r\na", "unsupported_expectation", ""},
		{"two Expects", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na", "unsupported_expectation", ""},
		{"an empty Expect", "GET / HTTP/1.1\r\nHost: x\r\nExpect:\r\n\r\n", "unsupported_expectation", ""},
		{"Expect: 100-continue", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\na" + get, "", ""},
		{"Expect: 100-continue on HTTP/1.0 (ignored)", "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na", "", ""},
		{"a Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "invalid_host", ""},
		{"escapes, a bad one in the query", "GET /a%20b/%2F?q=%zz&r=100% HTTP/1.1\r\nHost: x\r\n\r\n", "", ""},
		{"absolute-form", "GET http://x:8080/a%20b HTTP/1.1\r\nHost: x:8080\r\n\r\n", "", ""},
		{"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "", ""},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", "", ""},
		{"HTTP/1.0 with an empty Host", "GET / HTTP/1.0\r\nHost:\r\n\r\n", "", ""},
		{"an empty Host on HTTP/1.1", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "empty_host", ""},
		{"an empty Host of spaces on HTTP/1.1", "GET / HTTP/1.1\r\nHost:  \r\n\r\n", "empty_host", ""},
		{"CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n" + get, "connect_method", ""},
		{"CONNECT without Host", "CONNECT x:443 HTTP/1.1\r\n\r\n", "connect_method", ""},
		{"a fragment in the target", "GET /admin/x#/../../api HTTP/1.1\r\nHost: x\r\n\r\n", "invalid_request_target", ""},
		{"a fragment after the query", "GET /api?a=1#x HTTP/1.1\r\nHost: x\r\n\r\n", "invalid_request_target", ""},
		{"HTTP/1.9, which net/http reads as 1.x", "GET / HTTP/1.9\r\nHost: x\r\n\r\n", "unsupported_http_version", ""},
		{"HTTP/2.0 with another method", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", "unsupported_http_version", ""},
		{"a malformed version", "GET / JUNK/1.0\r\nHost: x\r\n\r\n", "malformed_http_version", ""},
		{"a version without HTTP/", "GET / 1.1\r\nHost: x\r\n\r\n", "malformed_http_version", ""},
		{"HTTP\\1.0", "GET /a HTTP\\1.0\r\nHost: x\r\n\r\n", "malformed_http_version", ""},
		{"an h2 preface after a request", get + "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2_preface_mid_connection", get},
		{"an empty line before the first request", "\r\n" + get, "empty_line_before_request", ""},
		{"an empty line after a GET", get + "\r\n" + get, "empty_line_before_request", get},
		{"a CRLF after a POST body, as net/http allows", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na\r\n" + get, "", ""},
		{"two CRLFs after a POST body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na\r\n\r\n" + get, "", ""},
		{"three CRLFs after a POST body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na\r\n\r\n\r\n" + get, "empty_line_before_request",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na\r\n\r\n"},
		{"a bare LF after a POST body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na\n" + get, "bare_lf",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na"},
		// Chunked bodies: the framing is refused at the first bad line,
		// which never passes.
		{"chunk size not hex", chunked + "zz\r\nhi\r\n0\r\n\r\n", "invalid_chunk_size", chunked},
		{"chunk size with 0x", chunked + "0x5\r\nhello\r\n0\r\n\r\n", "invalid_chunk_size", chunked},
		{"negative chunk size", chunked + "-5\r\nhello\r\n0\r\n\r\n", "invalid_chunk_size", chunked},
		{"chunk size with a space", chunked + "5 \r\nhello\r\n0\r\n\r\n", "invalid_chunk_size", chunked},
		{"chunk size ending in a bare LF", chunked + "5\nhello\r\n0\r\n\r\n", "bare_lf", chunked},
		{"chunk size overflow", chunked + "10000000000000005\r\nhello\r\n0\r\n\r\n", "chunk_size_too_large", chunked},
		{"chunk data longer than its size", chunked + "3\r\nhello\r\n0\r\n\r\n", "invalid_chunk_end", chunked + "3\r\nhel"},
		{"no CRLF after chunk data", chunked + "5\r\nhello0\r\n\r\n", "invalid_chunk_end", chunked + "5\r\nhello"},
		{"a bare CR in a chunk extension", chunked + "5;a\rb\r\nhello\r\n0\r\n\r\n", "control_character", chunked},
		{"a folded trailer", chunked + "0\r\nX-T: 1\r\n 2\r\n\r\n", "obs_fold", chunked + "0\r\n"},
		{"a trailer with a bare LF", chunked + "0\r\nX-T: 1\n\r\n", "bare_lf", chunked + "0\r\n"},
		{"Content-Length in a trailer", chunked + "0\r\nContent-Length: 5\r\n\r\n", "invalid_trailer", chunked + "0\r\n"},
		{"an empty trailer ended by a bare LF", chunked + "0\r\n\n", "bare_lf", chunked + "0\r\n"},
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

// TestWireBodyRefusal: a refusal of chunk framing says it is in the body
// (the head already reached the server); one of a head does not.
func TestWireBodyRefusal(t *testing.T) {
	for raw, inBody := range map[string]bool{
		chunked + "zz\r\n":                              true,
		chunked + "0\r\nX: 1\r\n y\r\n\r\n":             true,
		get + "GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n": false,
	} {
		w := Wire{MaxHeader: 1024}
		_, err := w.Feed(nil, []byte(raw))
		if err == nil || err.InBody != inBody {
			t.Errorf("%q: refusal %+v, want one with InBody %v", raw, err, inBody)
		}
	}
}

// TestWireUpgrade: an Upgrade header switches nothing off by itself. The
// bytes after the request are held until the gateway says whether the
// protocol switched: Tunnel passes them (and everything after) as they
// are; Resume checks them as the next request, so a request smuggled
// behind an unanswered Upgrade is refused.
func TestWireUpgrade(t *testing.T) {
	const up = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\n\r\n"
	const smuggle = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	t.Run("resume checks the held request", func(t *testing.T) {
		for _, step := range []int{0, 1, 5} {
			w := Wire{MaxHeader: 1024}
			out, err := feedSteps(&w, up+smuggle, step)
			if err != nil || string(out) != up || !w.Holding() {
				t.Fatalf("step %d: passed %q, err %v, holding %v", step, out, err, w.Holding())
			}
			out, err = w.Resume(nil)
			if err == nil || err.Reason != "content_length_and_transfer_encoding" || len(out) != 0 {
				t.Fatalf("step %d: resume passed %q, err %+v", step, out, err)
			}
		}
	})
	t.Run("resume then more requests", func(t *testing.T) {
		w := Wire{MaxHeader: 1024}
		out, _ := w.Feed(nil, []byte(up+get[:10]))
		out, err := w.Resume(out)
		if err != nil || string(out) != up {
			t.Fatalf("passed %q, %v", out, err)
		}
		out, err = w.Feed(out, []byte(get[10:]+get))
		if err != nil || string(out) != up+get+get || w.Holding() || w.Off() {
			t.Fatalf("passed %q, %v", out, err)
		}
	})
	t.Run("a request with a body and Upgrade holds after the body", func(t *testing.T) {
		w := Wire{MaxHeader: 1024}
		head := "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\nabc"
		out, err := w.Feed(nil, []byte(head+get))
		if err != nil || string(out) != head || !w.Holding() {
			t.Fatalf("passed %q, %v", out, err)
		}
	})
	t.Run("tunnel passes what was held and what follows", func(t *testing.T) {
		w := Wire{MaxHeader: 1024}
		frames := "\x81\x05hello\r\n\r\n" + smuggle
		out, _ := w.Feed(nil, []byte(up+frames[:4]))
		if string(out) != up {
			t.Fatalf("passed %q", out)
		}
		out = append(out[:0], w.Tunnel()...)
		out, err := w.Feed(out, []byte(frames[4:]))
		if err != nil || string(out) != frames || !w.Off() {
			t.Fatalf("passed %q, %v", out, err)
		}
	})
	t.Run("too much before the answer", func(t *testing.T) {
		w := Wire{MaxHeader: 64}
		_, err := w.Feed(nil, []byte(up+strings.Repeat("x", 65)))
		if err == nil || err.Reason != "data_before_upgrade" {
			t.Fatalf("got %+v", err)
		}
	})
}

func feedSteps(w *Wire, raw string, step int) ([]byte, *WireError) {
	var out []byte
	in := []byte(raw)
	for len(in) > 0 {
		n := len(in)
		if step > 0 {
			n = min(step, n)
		}
		var err *WireError
		if out, err = w.Feed(out, in[:n]); err != nil {
			return out, err
		}
		in = in[n:]
	}
	return out, nil
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

// FuzzWireFraming checks the wire against net/http, the server behind it:
// every request head the wire passes, net/http reads ending at the same
// byte, and every body the wire passes whole, net/http reads to the same
// byte. Where the wire refuses a chunked body, net/http, reading what
// passed and the poison the gateway appends (bodyPoison there), fails the
// body and frames nothing after it. Bytes held after an upgrade request are
// resumed, as the gateway does when no 101 comes back.
func FuzzWireFraming(f *testing.F) {
	for _, s := range []string{
		get + get,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\r\n" + get,
		chunked + "5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n" + get,
		chunked + "5\r\nhello\r\n0\r\n\r\n\r\n" + get,
		chunked + "zz\r\n",
		chunked + "5\r\nhello0\r\n\r\n",
		chunked + "0\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\n\r\n" + "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\nGET http://x/y HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n\n\n" + get,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// The wire, a byte at a time: where each head it passes ends.
		w := Wire{MaxHeader: 4096}
		var out []byte
		var heads []int
		var refused *WireError
		for i := 0; i < len(raw) && refused == nil; i++ {
			before, n := w.state, len(out)
			out, refused = w.Feed(out, raw[i:i+1])
			if refused == nil && w.Holding() {
				out, refused = w.Resume(out)
			}
			// A head passes whole; the CRLFs net/http skips after a POST
			// pass on their own.
			if before == wireHeader && len(out) > n && len(bytes.Trim(out[n:], "\r\n")) > 0 {
				heads = append(heads, len(out))
			}
			if w.Off() {
				return // an HTTP/2 preface: net/http serves HTTP/2
			}
		}
		stream := out
		if refused != nil && refused.InBody {
			stream = append(bytes.Clone(out), "\x00\r\n\r\n"...)
		}

		// net/http, as its server reads a connection.
		cr := &countingReader{r: bytes.NewReader(stream)}
		br := bufio.NewReaderSize(cr, 64<<10)
		pos := func() int { return cr.n - br.Buffered() }
		lastPost := false
		for k := 0; ; k++ {
			if lastPost {
				peek, _ := br.Peek(4)
				n := 0
				for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
					n++
				}
				_, _ = br.Discard(n)
			}
			if _, err := br.Peek(1); err != nil {
				if k != len(heads) {
					t.Fatalf("net/http read %d requests, the wire passed %d heads", k, len(heads))
				}
				return
			}
			req, err := http.ReadRequest(br)
			if k >= len(heads) {
				// Bytes past the last head the wire passed: a refused
				// body's poison, or nothing.
				t.Fatalf("net/http read a request (%v) where the wire passed no head", err)
			}
			if err != nil {
				t.Fatalf("request %d: the wire passed a head net/http refuses: %v", k, err)
			}
			if pos() != heads[k] {
				t.Fatalf("request %d: net/http's head ends at %d, the wire's at %d", k, pos(), heads[k])
			}
			lastPost = req.Method == "POST"
			_, err = io.Copy(io.Discard, req.Body)
			last := k == len(heads)-1
			switch {
			case err == nil:
				if last && refused != nil && refused.InBody {
					t.Fatalf("request %d: net/http read the refused chunked body to its end", k)
				}
			case last && refused != nil && refused.InBody:
				return // the refused body of the last request
			case last && refused == nil && w.state != wireHeader && w.state != wireUpgrade:
				return // the input ends within the last body
			default:
				t.Fatalf("request %d: net/http failed the body the wire passed: %v", k, err)
			}
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
