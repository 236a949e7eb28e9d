package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/guard"
)

// slowReader yields its bytes in parts of at most part bytes, each Read
// after a pause (bufio reads 16 KiB at a time); after breakAt
// bytes (when > 0) it fails with errBroke.
type slowReader struct {
	left, part, breakAt int
	sent                int
	pause               time.Duration
}

var errBroke = errors.New("the client's body broke off")

func (r *slowReader) Read(p []byte) (int, error) {
	if r.breakAt > 0 && r.sent >= r.breakAt {
		return 0, errBroke
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := min(len(p), r.part, r.left)
	for i := range n {
		p[i] = 'x'
	}
	r.left -= n
	r.sent += n
	return n, nil
}

// largeRequest is a POST of n bytes read from body.
func largeRequest(url string, body io.Reader, n int64) (*http.Request, *trackedBody) {
	req, _ := http.NewRequest("POST", url, nil)
	tb := &trackedBody{ReadCloser: io.NopCloser(body)}
	req.Body, req.ContentLength = tb, n
	return req, tb
}

// oneRequestServer answers the first request of each connection with
// handle, which reads its body or not, then closes the connection.
func oneRequestServer(t *testing.T, handle func(c net.Conn, req *http.Request)) string {
	return rawServer(t, func(c net.Conn) {
		defer c.Close()
		if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			handle(c, req)
		}
	})
}

// waitWriters waits until no body writer runs (a goroutine started by
// startBody).
func waitWriters(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		if !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "proxy.startBody") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a body writer outlived its exchange")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestH1LargeBody: bodies over h1MaxBody go through the synchronous
// client, whole, and the connection is reused after them.
func TestH1LargeBody(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	}))
	tr := newTestH1(time.Second)
	defer tr.CloseIdleConnections()
	for _, n := range []int{h1MaxBody + 1, 1 << 20, 4 << 20} {
		req, _ := largeRequest(srv.URL+"/up", bytes.NewReader(make([]byte, n)), int64(n))
		res, err := tr.RoundTrip(req, &head{in: req.Header})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != strconv.Itoa(n) {
			t.Errorf("upstream read %s bytes of %d", b, n)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for three sequential uploads, want 1", n)
	}
}

// TestH1EarlyAnswer: an upstream that answers before reading the body,
// and keeps the connection open, has its answer passed on at once; the
// connection is not reused, and the body writer is gone once the
// response body is closed.
func TestH1EarlyAnswer(t *testing.T) {
	addr := oneRequestServer(t, func(c net.Conn, _ *http.Request) {
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nbig!")
		time.Sleep(3 * time.Second) // neither reads nor closes
	})
	tr := newTestH1(time.Second)
	defer tr.CloseIdleConnections()
	start := time.Now()
	req, _ := largeRequest("http://"+addr+"/early", &slowReader{left: 64 << 20, part: 1 << 20}, 64<<20)
	res, err := tr.RoundTrip(req, &head{in: req.Header})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 413 || string(b) != "big!" || time.Since(start) > 2*time.Second {
		t.Errorf("early answer: %d %q after %v", res.StatusCode, b, time.Since(start))
	}
	waitWriters(t)
	if n := len(tr.idle[addr]); n != 0 {
		t.Errorf("a connection whose body was not all sent was pooled")
	}
}

// TestH1FullDuplex: an upstream that answers while it reads the body (its
// head first, then a chunk for each part read) gets all of it: the head's
// coming first does not end the upload.
func TestH1FullDuplex(t *testing.T) {
	addr := oneRequestServer(t, func(c net.Conn, req *http.Request) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		buf := make([]byte, 32<<10)
		for {
			n, err := req.Body.Read(buf)
			if n > 0 {
				s := strconv.Itoa(n) + "\n"
				fmt.Fprintf(c, "%x\r\n%s\r\n", len(s), s)
			}
			if err != nil {
				break
			}
		}
		io.WriteString(c, "0\r\n\r\n")
	})
	tr := newTestH1(time.Second)
	defer tr.CloseIdleConnections()
	const size = 2 << 20
	req, _ := largeRequest("http://"+addr+"/echo", &slowReader{left: size, part: 256 << 10, pause: 5 * time.Millisecond}, size)
	res, err := tr.RoundTrip(req, &head{in: req.Header})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	total := 0
	for _, l := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(l)
		total += n
	}
	if err != nil || total != size {
		t.Errorf("the upstream read %d of %d bytes while answering (%v)", total, size, err)
	}
}

// TestH1BodyBreaksOff: a client body that fails midway fails the
// exchange with its own error, at once, not with a header timeout.
func TestH1BodyBreaksOff(t *testing.T) {
	addr := oneRequestServer(t, func(_ net.Conn, req *http.Request) {
		io.Copy(io.Discard, req.Body)
	})
	tr := newTestH1(5 * time.Second)
	defer tr.CloseIdleConnections()
	start := time.Now()
	req, tb := largeRequest("http://"+addr+"/up", &slowReader{left: 1 << 20, part: 32 << 10, breakAt: 200 << 10}, 1<<20)
	_, err := tr.RoundTrip(req, &head{in: req.Header})
	if !errors.Is(err, errBroke) || time.Since(start) > 2*time.Second {
		t.Errorf("broken body: %v after %v, want errBroke at once", err, time.Since(start))
	}
	if !errors.Is(tb.failed(), errBroke) {
		t.Errorf("the tracked body recorded %v", tb.failed())
	}
	waitWriters(t)
}

// TestH1HeaderTimeoutAfterBody: the response header timeout starts when
// the body is written: an upload slower than the timeout succeeds, and an
// upstream that takes the body and never answers times out.
func TestH1HeaderTimeoutAfterBody(t *testing.T) {
	addr := oneRequestServer(t, func(c net.Conn, req *http.Request) {
		io.Copy(io.Discard, req.Body)
		if req.URL.Path == "/silent" {
			time.Sleep(time.Second)
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := newTestH1(150 * time.Millisecond)
	defer tr.CloseIdleConnections()
	const size = 1 << 20
	req, _ := largeRequest("http://"+addr+"/slow", &slowReader{left: size, part: 128 << 10, pause: 8 * time.Millisecond}, size)
	res, err := tr.RoundTrip(req, &head{in: req.Header})
	if err != nil {
		t.Fatalf("an upload slower than the header timeout: %v", err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	start := time.Now()
	req, _ = largeRequest("http://"+addr+"/silent", &slowReader{left: size, part: 256 << 10}, size)
	_, err = tr.RoundTrip(req, &head{in: req.Header})
	if !errors.Is(err, errHeaderTimeout) || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("no answer after the body: %v after %v, want the header timeout", err, time.Since(start))
	}
}

// TestH1Resendable: which requests go again after a reused connection
// failed.
func TestH1Resendable(t *testing.T) {
	body := io.NopCloser(strings.NewReader("x"))
	for _, tc := range []struct {
		name                      string
		method                    string
		body                      io.ReadCloser
		err                       error
		wroteNothing, readNothing bool
		want                      bool
	}{
		{"GET, nothing written", "GET", nil, io.EOF, true, true, true},
		{"GET written, no answer", "GET", nil, io.EOF, false, true, true},
		{"GET, part of an answer", "GET", nil, io.ErrUnexpectedEOF, false, false, false},
		{"POST without a body, nothing written", "POST", nil, io.EOF, true, true, true},
		{"POST without a body, written", "POST", nil, io.EOF, false, true, false},
		{"a body, nothing written (it was read into the buffer)", "POST", body, io.EOF, true, true, false},
		{"PUT with a body, nothing written", "PUT", body, io.EOF, true, true, false},
		{"GET, header timeout", "GET", nil, errHeaderTimeout, false, true, false},
		{"GET, a refused answer", "GET", nil, &guard.ResponseError{Reason: "bare_lf"}, false, false, false},
	} {
		req, _ := http.NewRequest(tc.method, "http://x/", nil)
		req.Body = tc.body
		if got := resendable(req, tc.err, tc.wroteNothing, tc.readNothing); got != tc.want {
			t.Errorf("%s: resendable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// streamBody yields parts one at a time, each only after the upstream
// said it got the one before (got).
type streamBody struct {
	parts []string
	got   chan struct{}
	first bool
}

func (b *streamBody) Read(p []byte) (int, error) {
	if b.first {
		select {
		case <-b.got:
		case <-time.After(2 * time.Second):
			return 0, errors.New("the upstream never got the last part: it was not sent on")
		}
	}
	b.first = true
	if len(b.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.parts[0])
	b.parts = b.parts[1:]
	return n, nil
}

// TestH1ChunkedUpload: a body of unknown length goes chunked, each part
// sent as it is read (a stream, not a buffered upload), and the
// connection is reused after it.
func TestH1ChunkedUpload(t *testing.T) {
	got := make(chan struct{}, 1)
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" || r.ContentLength != -1 {
			http.Error(w, fmt.Sprintf("framing %v %d", r.TransferEncoding, r.ContentLength), 400)
			return
		}
		var all []byte
		buf := make([]byte, 1024)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				all = append(all, buf[:n]...)
				got <- struct{}{}
			}
			if err != nil {
				break
			}
		}
		w.Write(all)
	}))
	tr := newTestH1(time.Second)
	defer tr.CloseIdleConnections()
	for range 2 {
		req, _ := largeRequest(srv.URL+"/stream", &streamBody{parts: []string{"one ", "two ", "three"}, got: got}, -1)
		res, err := tr.RoundTrip(req, &head{in: req.Header})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "one two three" {
			t.Fatalf("chunked upload: %d %q", res.StatusCode, b)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for two chunked uploads, want 1", n)
	}
}
