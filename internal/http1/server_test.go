package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/guard"
)

// testHandler answers by path, as the tests below ask.
func testHandler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/small", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hello") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, strings.Repeat("x", 10000)) })
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		_, _ = io.WriteString(w, "{}")
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/notmodified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Trailer", "X-Got-Trailer")
		fmt.Fprintf(w, "%s %s %d %q", r.Method, r.Host, r.ContentLength, b)
		w.Header().Set("X-Got-Trailer", r.Trailer.Get("X-Sum"))
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "yes")
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "abc")
	})
	mux.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<html><body>hi</body></html>") })
	mux.HandleFunc("/early", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		_, _ = io.WriteString(w, "done")
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "short and stout")
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	})
	return mux
}

// listen serves h on loopback with srv, each connection by ServeConn;
// it returns the address and a count of accepted connections.
func listen(t *testing.T, srv *Server) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Go(func() { srv.ServeConn(ctx, c) })
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = l.Close()
		wg.Wait()
	})
	return l.Addr().String(), &conns
}

// stdlib serves h with net/http, for the parity test.
func stdlib(t *testing.T, h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return l.Addr().String()
}

// exchange writes raw to a new connection and reads the responses.
func exchange(t *testing.T, addr, raw string, methods ...string) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []*http.Response
	for _, m := range methods {
		res, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("response %d to %q: %v", len(out)+1, raw, err)
		}
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(out)+1, err)
		}
		res.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, res)
	}
	return out
}

// TestParity: the same handler behind this server and net/http's gives
// the same responses to the same bytes: status, header (but Date), body,
// framing, trailers and whether the connection stays open.
func TestParity(t *testing.T) {
	h := testHandler(t)
	ours, _ := listen(t, &Server{Handler: h, MaxHeaderBytes: 8192})
	ref := stdlib(t, h)
	for _, c := range []struct {
		raw     string
		methods []string
	}{
		{"GET /small HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /big HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /json HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"HEAD /small HTTP/1.1\r\nHost: a\r\n\r\n", []string{"HEAD"}},
		{"HEAD /json HTTP/1.1\r\nHost: a\r\n\r\n", []string{"HEAD"}},
		{"GET /empty HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /notmodified HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /trailer HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /sniff HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /status HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /close HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /early HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
		{"GET /small HTTP/1.0\r\n\r\n", []string{"GET"}},
		{"GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", []string{"GET"}},
		{"GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", []string{"GET"}},
		{"GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET"}},
		{"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /small HTTP/1.1\r\nHost: a\r\n\r\n", []string{"POST", "GET"}},
		{"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n", []string{"POST"}},
		{"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /json HTTP/1.1\r\nHost: a\r\n\r\n", []string{"POST", "GET"}},
		{"GET /small HTTP/1.1\r\nHost: a\r\n\r\nGET /big HTTP/1.1\r\nHost: a\r\n\r\nHEAD /json HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET", "GET", "HEAD"}},
		{"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET"}},
	} {
		a, b := exchange(t, ours, c.raw, c.methods...), exchange(t, ref, c.raw, c.methods...)
		for i := range a {
			x, y := a[i], b[i]
			x.Header.Del("Date")
			y.Header.Del("Date")
			bx, _ := io.ReadAll(x.Body)
			by, _ := io.ReadAll(y.Body)
			for _, d := range []struct {
				what string
				a, b any
			}{
				{"status", x.StatusCode, y.StatusCode}, {"header", x.Header, y.Header}, {"body", string(bx), string(by)},
				{"length", x.ContentLength, y.ContentLength}, {"transfer encoding", x.TransferEncoding, y.TransferEncoding},
				{"close", x.Close, y.Close}, {"trailer", x.Trailer, y.Trailer},
			} {
				if !reflect.DeepEqual(d.a, d.b) {
					t.Errorf("%q, response %d: %s %#v here, %#v from net/http", c.raw, i+1, d.what, d.a, d.b)
				}
			}
		}
	}
}

// TestKeepAlive: a client's requests reuse one connection.
func TestKeepAlive(t *testing.T) {
	addr, conns := listen(t, &Server{Handler: testHandler(t), IdleTimeout: time.Minute})
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	for i := range 6 {
		path := []string{"/small", "/big", "/json"}[i%3]
		res, err := c.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	res, err := c.Post("http://"+addr+"/echo", "text/plain", strings.NewReader(strings.Repeat("y", 100000)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(string(b), "POST "+addr+" 100000 ") {
		t.Errorf("echo: %.60s", b)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 7 requests, want 1", n)
	}
}

// TestRefused: a request the reader refuses reaches Refused, whose
// answer the client gets before the connection closes.
func TestRefused(t *testing.T) {
	var got []string
	var mu sync.Mutex
	addr, _ := listen(t, &Server{Handler: testHandler(t), MaxHeaderBytes: 8192, Refused: func(w http.ResponseWriter, r *http.Request, err *guard.WireError) {
		mu.Lock()
		got = append(got, err.Reason)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(err.Type.Status)
		fmt.Fprintf(w, `{"detail":%q}`, err.Detail)
	}})
	for raw, reason := range map[string]string{
		"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n":  "content_length_and_transfer_encoding",
		"GET /small HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n":                                             "unsupported_expectation",
		"GET /small HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 100)+"\r\n", 100): "headers_too_large",
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		res := exchange(t, addr, raw, "GET")[0]
		if res.StatusCode/100 != 4 || res.Header.Get("Content-Type") != "application/problem+json" || !res.Close {
			t.Errorf("%s: %d %v close=%v", reason, res.StatusCode, res.Header, res.Close)
		}
		mu.Lock()
		if len(got) != 1 || got[0] != reason {
			t.Errorf("refused for %v, want %s", got, reason)
		}
		mu.Unlock()
	}
	// a refused chunked body: the handler's read fails, and nothing after it is read
	res := exchange(t, addr, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\nGET /small HTTP/1.1\r\nHost: a\r\n\r\n", "POST")[0]
	if res.StatusCode != 400 || !res.Close {
		t.Errorf("refused chunked body: %d close=%v", res.StatusCode, res.Close)
	}
}

// TestExpectContinue: the body is asked for when the handler reads it.
func TestExpectContinue(t *testing.T) {
	addr, _ := listen(t, &Server{Handler: testHandler(t)})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("before the body: %q %v", line, err)
	}
	_, _ = br.ReadString('\n')
	_, _ = io.WriteString(c, "hello")
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if !strings.HasPrefix(string(b), `POST a 5 "hello"`) {
		t.Errorf("%s", b)
	}
}

// TestFlushAndCancel: a flushed event reaches the client before the
// handler is done, and the client hanging up cancels the request.
func TestFlushAndCancel(t *testing.T) {
	cancelled := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: 1\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(5 * time.Second):
		}
	})
	addr, _ := listen(t, &Server{Handler: h})
	res, err := http.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "data: 1\n" || res.TransferEncoding[0] != "chunked" {
		t.Fatalf("first event: %q %v %v", line, err, res.TransferEncoding)
	}
	res.Body.Close() // the client leaves
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("the request was not cancelled when the client left")
	}
}

// TestHijack: an upgrade handler takes the connection over, with what
// the client already sent.
func TestHijack(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo: " + line)
		_ = rw.Flush()
	})
	addr, _ := listen(t, &Server{Handler: h})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nping\n")
	b, _ := io.ReadAll(c)
	if !strings.HasSuffix(string(b), "\r\n\r\necho: ping\n") || !strings.HasPrefix(string(b), "HTTP/1.1 101") {
		t.Errorf("%q", b)
	}
}

// TestTimeouts: a head sent too slowly, and a connection idle too long,
// are closed.
func TestTimeouts(t *testing.T) {
	addr, _ := listen(t, &Server{Handler: testHandler(t), ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /small HTTP/1.1\r\nHost: a\r\n") // never ends
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) || time.Since(start) > 2*time.Second {
		t.Errorf("slow head: %v after %v", err, time.Since(start))
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = io.WriteString(c2, "GET /small HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c2)
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("%v", err)
	} else {
		_, _ = io.Copy(io.Discard, res.Body)
	}
	start = time.Now()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) || time.Since(start) > 2*time.Second {
		t.Errorf("idle: %v after %v", err, time.Since(start))
	}
}

// TestCancelAfterBody: once a request's body is read, the client hanging
// up cancels the request (the proxy stops waiting on the upstream).
func TestCancelAfterBody(t *testing.T) {
	cancelled := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(5 * time.Second):
		}
	})
	addr, _ := listen(t, &Server{Handler: h})
	for _, raw := range []string{
		"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	} {
		cancelled = make(chan struct{})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, raw)
		time.Sleep(100 * time.Millisecond)
		c.Close()
		select {
		case <-cancelled:
		case <-time.After(3 * time.Second):
			t.Fatalf("%q: not cancelled when the client left", raw)
		}
	}
}

// TestPanic: a handler's panic drops its connection without an answer
// (net/http does the same), and the server goes on serving others.
func TestPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/abort":
			_, _ = io.WriteString(w, "partial")
			panic(http.ErrAbortHandler)
		case "/bug":
			panic("a bug in the handler")
		}
		_, _ = io.WriteString(w, "ok")
	})
	addr, _ := listen(t, &Server{Handler: h})
	for _, path := range []string{"/abort", "/bug"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\n")
		if b, _ := io.ReadAll(c); len(b) != 0 {
			t.Errorf("%s: %q written", path, b)
		}
		c.Close()
	}
	res, err := http.Get("http://" + addr + "/fine")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("after the panics: %d", res.StatusCode)
	}
}

// TestAnswerBeforeUpload: a handler that answers an upload without
// reading it gets its answer to the client, which is still sending: the
// server half-closes and lingers instead of resetting the connection
// under the answer. A real client (net/http's) must read the 413, on
// both servers.
func TestAnswerBeforeUpload(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	for name, addr := range map[string]string{"http1": func() string { a, _ := listen(t, &Server{Handler: h}); return a }(), "net/http": stdlib(t, h)} {
		for range 5 {
			body := strings.NewReader(strings.Repeat("u", 16<<20))
			res, err := http.Post("http://"+addr+"/up", "application/octet-stream", body)
			if err != nil {
				t.Fatalf("%s: %v: the answer was lost", name, err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "too large") {
				t.Fatalf("%s: %d %q", name, res.StatusCode, b)
			}
		}
	}
}

// TestShutdown: Shutdown closes the connections waiting for a request:
// one that has served a request, and one that has waited for its first
// past the grace. It spares a connection younger than the grace, whose
// request is served with Connection: close (and which CloseIdle closes
// once it has waited past the grace in silence), lets a request in
// flight finish with Connection: close, and serves no new connection.
func TestShutdown(t *testing.T) {
	const grace = time.Second
	inFlight, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inFlight <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	srv := &Server{Handler: h, IdleTimeout: time.Minute, newGrace: grace}
	addr, _ := listen(t, srv)
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo) // before listen's cleanup waits for the handler, should the test fail early
	dial := func() net.Conn { return dialFor(t, addr, 10*time.Second) }
	// closed reports whether the server closed c with nothing more sent:
	// EOF, or a reset where the client's bytes were never read
	closed := func(br *bufio.Reader) bool {
		_, err := br.ReadByte()
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	// held waits until the server serves n connections
	held := func(n int) {
		waitFor(t, func() bool {
			srv.mu.Lock()
			defer srv.mu.Unlock()
			return len(srv.conns) == n
		})
	}
	get := func(c net.Conn, br *bufio.Reader, path string) *http.Response {
		t.Helper()
		_, _ = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if b, _ := io.ReadAll(res.Body); string(b) != "ok" {
			t.Errorf("GET %s: %q", path, b)
		}
		return res
	}

	stale := dial()
	idle := dial()
	idleR := bufio.NewReader(idle)
	get(idle, idleR, "/fast")
	held(2)
	time.Sleep(grace + 100*time.Millisecond) // stale has waited past the grace
	fresh, silent, busy := dial(), dial(), dial()
	_, _ = io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-inFlight
	held(5)

	srv.Shutdown()
	if !closed(idleR) {
		t.Error("an idle connection stayed open after Shutdown")
	}
	if !closed(bufio.NewReader(stale)) {
		t.Error("a connection that waited past the grace for its first request stayed open after Shutdown")
	}
	freshR := bufio.NewReader(fresh)
	if res := get(fresh, freshR, "/fast"); !res.Close {
		t.Error("the request of a connection made just before Shutdown was answered without Connection: close")
	}
	if !closed(freshR) {
		t.Error("the connection made just before Shutdown stayed open after its response")
	}
	letGo()
	busyR := bufio.NewReader(busy)
	res, err := http.ReadResponse(busyR, nil)
	if err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	if string(b) != "ok" || !res.Close {
		t.Errorf("the request in flight: %q, close %v; want ok and Connection: close", b, res.Close)
	}
	if !closed(busyR) {
		t.Error("the connection stayed open after its last response")
	}
	late := dial()
	_, _ = io.WriteString(late, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	if !closed(bufio.NewReader(late)) {
		t.Error("a connection after Shutdown was served")
	}

	// the silent connection is spared until it has waited past the grace
	srv.CloseIdle()
	held(1)
	time.Sleep(grace)
	srv.CloseIdle()
	if !closed(bufio.NewReader(silent)) {
		t.Error("a silent connection stayed open after the grace")
	}
}

func TestClose(t *testing.T) {
	inFlight := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight <- struct{}{}
		<-r.Context().Done()
	})
	srv := &Server{Handler: h}
	addr, _ := listen(t, srv)
	c := dialFor(t, addr, 5*time.Second)
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-inFlight
	srv.Close()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after Close: %v, want EOF", err)
	}
}

// dialFor connects to addr with a deadline of d for everything the test
// reads and writes; the connection closes when the test ends.
func dialFor(t *testing.T, addr string, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(d))
	return c
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
