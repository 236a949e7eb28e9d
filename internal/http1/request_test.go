package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/guard"
)

// seeds are requests and near-requests, well and badly framed.
var seeds = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a%20b?q=1 HTTP/1.1\r\nHost: a.example:8080\r\nAccept: */*\r\nX-Many: 1\r\nX-Many: 2\r\nPragma: no-cache\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n",
	"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\n\r\n",
	"GET http://b.example/x HTTP/1.1\r\nHost: ignored\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"GET / HTTP/1.1\r\nHost: a\r\n X-Folded: b\r\n\r\n",
	"GET / HTTP/1.1\nHost: a\n\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
	"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}

// serverSkip does what net/http's server does before the request after
// a POST: discard up to four CR or LF bytes.
func serverSkip(br *bufio.Reader) {
	b, _ := br.Peek(4)
	n := 0
	for n < len(b) && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	_, _ = br.Discard(n)
}

// FuzzReadRequest: every request this reader takes from a connection's
// bytes, net/http's ReadRequest takes too, from the same place in the
// stream, with the same method, target, URL, version, header, host,
// length, transfer coding and close; each body this reader reads whole,
// net/http reads to the same bytes and trailers. Up to three pipelined
// requests are compared, so that both must agree where each one ends.
func FuzzReadRequest(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ours := NewReader(bufio.NewReaderSize(bytes.NewReader(data), 256), 1024)
		refBR := bufio.NewReader(bytes.NewReader(data))
		lastPost := false
		for i := 0; i < 3; i++ {
			req, err := ours.ReadRequest()
			if err != nil {
				return
			}
			if lastPost {
				serverSkip(refBR)
			}
			ref, rerr := http.ReadRequest(refBR)
			if rerr != nil {
				t.Fatalf("request %d: read here as %s %s, refused by net/http: %v\n%q", i+1, req.Method, req.RequestURI, rerr, data)
			}
			lastPost = req.Method == "POST"
			same := func(what string, a, b any) {
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("request %d: %s: %#v here, %#v in net/http\n%q", i+1, what, a, b, data)
				}
			}
			same("method", req.Method, ref.Method)
			same("target", req.RequestURI, ref.RequestURI)
			same("URL", req.URL.String(), ref.URL.String())
			same("proto", [3]any{req.Proto, req.ProtoMajor, req.ProtoMinor}, [3]any{ref.Proto, ref.ProtoMajor, ref.ProtoMinor})
			same("header", req.Header, ref.Header)
			same("host", req.Host, ref.Host)
			same("content length", req.ContentLength, ref.ContentLength)
			same("transfer encoding", req.TransferEncoding, ref.TransferEncoding)
			same("close", req.Close, ref.Close)
			same("declared trailer", req.Trailer, ref.Trailer)
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return // refused (or cut) here: the connection ends
			}
			refBody, rerr := io.ReadAll(ref.Body)
			if rerr != nil {
				t.Fatalf("request %d: body read here (%q), refused by net/http: %v\n%q", i+1, body, rerr, data)
			}
			same("body", body, refBody)
			same("trailer", req.Trailer, ref.Trailer)
		}
	})
}

// TestReadRequest: the seeds this reader refuses, with the reason the
// wire guard gives; the ones it reads, net/http reads alike (the fuzz
// target's check, run here on every seed).
func TestReadRequest(t *testing.T) {
	for _, c := range []struct {
		in, refused string
	}{
		{seeds[11], "content_length_and_transfer_encoding"},
		{seeds[12], "duplicate_content_length"},
		{seeds[13], "obs_fold"},
		{seeds[14], "bare_lf"},
		{seeds[15], "invalid_chunk_size"},
		{seeds[16], "invalid_chunk_end"},
		{seeds[17], "unsupported_http_version"},
	} {
		r := NewReader(bufio.NewReader(strings.NewReader(c.in)), 8192)
		req, err := r.ReadRequest()
		if err == nil {
			_, err = io.ReadAll(req.Body)
		}
		var werr *guard.WireError
		if !errors.As(err, &werr) || werr.Reason != c.refused {
			t.Errorf("%q: %v, want %s", c.in, err, c.refused)
		}
	}
	r := NewReader(bufio.NewReader(strings.NewReader(seeds[len(seeds)-1])), 8192)
	if _, err := r.ReadRequest(); err != ErrH2Preface {
		t.Errorf("the HTTP/2 preface: %v", err)
	}
	r = NewReader(bufio.NewReader(strings.NewReader(seeds[4])), 8192)
	req, err := r.ReadRequest()
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil || string(body) != "hello" || req.Trailer.Get("X-Sum") != "42" {
		t.Errorf("chunked body %q %v, trailer %v", body, err, req.Trailer)
	}
	if _, err := r.ReadRequest(); err != io.EOF {
		t.Errorf("after the last request: %v, want io.EOF", err)
	}
	for k := range commonKeys {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("common key %s is not canonical (%s)", k, c)
		}
	}
}

// benchHead is a browser-like request head behind a CDN.
const benchHead = "GET /v1/orders/1234?expand=items HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n" +
	"Accept: application/json\r\nAccept-Encoding: gzip, br\r\nAccept-Language: en-GB,en;q=0.9\r\nAuthorization: Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln\r\n" +
	"X-Forwarded-For: 203.0.113.7\r\nX-Request-Id: 0f8e2c1d\r\n\r\n"

// BenchmarkReadRequest reads a keep-alive connection's requests with
// this reader and with net/http's ReadRequest, which the gateway's
// serving path calls after the wire guard has checked the same bytes.
func BenchmarkReadRequest(b *testing.B) {
	stream := []byte(strings.Repeat(benchHead, 64))
	b.Run("http1", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchHead)))
		rd := bytes.NewReader(stream)
		br := bufio.NewReaderSize(rd, 4096)
		r := NewReader(br, 16<<10)
		for b.Loop() {
			if _, err := r.ReadRequest(); err == io.EOF {
				rd.Reset(stream)
				br.Reset(rd)
				r = NewReader(br, 16<<10)
			} else if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net/http", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchHead)))
		rd := bytes.NewReader(stream)
		br := bufio.NewReaderSize(rd, 4096)
		for b.Loop() {
			if _, err := http.ReadRequest(br); err == io.EOF {
				rd.Reset(stream)
				br.Reset(rd)
			} else if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("wire+net/http", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchHead)))
		var w guard.Wire
		w.MaxHeader = 16 << 10
		var out []byte
		head := []byte(benchHead)
		for b.Loop() {
			var err *guard.WireError
			if out, err = w.Feed(out[:0], head); err != nil {
				b.Fatal(err)
			}
			if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(out))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
