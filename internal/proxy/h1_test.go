package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestH1(headerTimeout time.Duration) *h1Transport {
	d := &net.Dialer{Timeout: time.Second}
	return newH1Transport(d.DialContext, 4, headerTimeout, 0)
}

func roundTrip(t *testing.T, tr *h1Transport, method, url string, body io.Reader, n int64) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if body == nil {
		req.Body = nil
	} else {
		req.Body = &trackedBody{ReadCloser: io.NopCloser(body)}
		req.ContentLength = n
	}
	res, err := tr.RoundTrip(req, &head{in: req.Header})
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res, string(b)
}

func TestH1ReusesConnections(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, len(b))
	}))
	tr := newTestH1(time.Second)
	defer tr.CloseIdleConnections()
	for i := range 20 {
		if i%2 == 0 {
			if _, b := roundTrip(t, tr, "GET", srv.URL+"/a", nil, 0); b != "GET /a 0" {
				t.Fatalf("body %q", b)
			}
		} else if _, b := roundTrip(t, tr, "POST", srv.URL+"/p", strings.NewReader("hello"), 5); b != "POST /p 5" {
			t.Fatalf("body %q", b)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("used %d connections for 20 sequential requests, want 1", n)
	}
}

func TestH1ChunkedHeadAndClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part1-"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		case "/continue":
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(201)
			w.Write([]byte("created"))
		default:
			w.Header().Set("Content-Length", "4")
			w.Write([]byte("head"))
		}
	}))
	defer srv.Close()
	tr := newTestH1(time.Second)
	defer tr.CloseIdleConnections()
	if res, b := roundTrip(t, tr, "GET", srv.URL+"/chunked", nil, 0); b != "part1-part2" || res.ContentLength != -1 {
		t.Errorf("chunked: %q %d", b, res.ContentLength)
	}
	if _, b := roundTrip(t, tr, "HEAD", srv.URL+"/x", nil, 0); b != "" {
		t.Errorf("HEAD body %q", b)
	}
	if res, b := roundTrip(t, tr, "GET", srv.URL+"/close", nil, 0); b != "bye" || !res.Close {
		t.Errorf("close: %q", b)
	}
	// One connection served all three; the Connection: close reply
	// retired it instead of pooling it.
	if n := len(tr.idle[strings.TrimPrefix(srv.URL, "http://")]); n != 0 {
		t.Errorf("idle conns after a Connection: close reply = %d, want 0", n)
	}
	if res, b := roundTrip(t, tr, "GET", srv.URL+"/continue", nil, 0); res.StatusCode != 201 || b != "created" {
		t.Errorf("1xx then 201: %d %q", res.StatusCode, b)
	}
}

// TestH1StaleConnectionRetried: the upstream closes an idle keep-alive
// connection; the next request must not fail.
func TestH1StaleConnectionRetried(t *testing.T) {
	// Answers one request per connection, then closes it without saying so.
	addr := rawServer(t, func(c net.Conn) {
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	tr := newTestH1(time.Second)
	defer tr.CloseIdleConnections()
	url := "http://" + addr + "/"
	for i := range 5 {
		if _, b := roundTrip(t, tr, "GET", url, nil, 0); b != "ok" {
			t.Fatalf("request %d: %q", i, b)
		}
		time.Sleep(20 * time.Millisecond) // let the close arrive
	}
	// With a body that was already sent, the failure is reported instead.
	time.Sleep(20 * time.Millisecond)
	req, _ := http.NewRequest("POST", url, nil)
	body := &trackedBody{ReadCloser: io.NopCloser(strings.NewReader("data"))}
	req.Body, req.ContentLength = body, 4
	res, err := tr.RoundTrip(req, &head{in: req.Header})
	if err == nil {
		res.Body.Close()
		if !body.read.Load() {
			t.Fatal("body not sent")
		}
	}
}

func TestH1HeaderTimeoutAndCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.Header().Set("Content-Length", "10")
			w.Write([]byte("12345"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr := newTestH1(200 * time.Millisecond)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", srv.URL+"/hang", nil)
	start := time.Now()
	_, err := tr.RoundTrip(req, &head{in: req.Header})
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) > 2*time.Second {
		t.Errorf("header timeout: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow-body", nil)
	res, err := tr.RoundTrip(req, &head{in: req.Header})
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Error("reading a body after cancel should fail")
	}
	res.Body.Close()
	if n := len(tr.idle[strings.TrimPrefix(srv.URL, "http://")]); n != 0 {
		t.Errorf("a cancelled connection was pooled")
	}
}

func TestH1Eligibility(t *testing.T) {
	tests := []struct {
		method, url string
		cl          int64
		hasBody     bool
		upgrade     bool
		tls         bool // the upstream has a TLS config
		want        bool
	}{
		{"GET", "http://x/", 0, false, false, false, true},
		{"POST", "http://x/", 100, true, false, false, true},
		{"POST", "http://x/", h1MaxBody + 1, true, false, false, true},
		{"POST", "http://x/", -1, true, false, false, true},
		{"GET", "https://x/", 0, false, false, false, false},
		{"GET", "https://x/", 0, false, false, true, true},
		{"POST", "https://x/", -1, true, false, true, true},
		{"GET", "https://x/", 0, false, true, true, true},
		{"GET", "ws://x/", 0, false, false, true, false},
		// Hosts net/http rewrites (IDN to punycode, an IPv6 zone removed)
		// go through it.
		{"GET", "http://bücher.example/", 0, false, false, false, false},
		{"GET", "http://[fe80::1%25eth0]:8080/", 0, false, false, false, false},
		{"GET", "http://[::1]:8080/", 0, false, false, false, true},
		{"GET", "http://x/", 0, false, true, false, true},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, tt.url, nil)
		req.Body = nil
		if tt.hasBody {
			req.Body = io.NopCloser(strings.NewReader(""))
		}
		req.ContentLength = tt.cl
		h := &head{in: req.Header}
		if tt.upgrade {
			h.upgrade = "websocket"
		}
		tr := newTestH1(time.Second)
		if tt.tls {
			tr.withTLS(&tls.Config{}, time.Second)
		}
		if got := tr.eligible(req, h); got != tt.want {
			t.Errorf("%s %s cl=%d upgrade=%v tls=%v: eligible %v", tt.method, tt.url, tt.cl, tt.upgrade, tt.tls, got)
		}
	}
}

// TestInFlightReleasedWhenUpstreamBreaksMidBody: the response is aborted
// (the status line is already sent), and the target's in-flight count
// must still return to zero.
func TestInFlightReleasedWhenUpstreamBreaksMidBody(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) {
		defer c.Close()
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
	})
	u := testUpstream("http://" + addr)
	p, err := NewPool("u", u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(withState(&Forwarder{Pool: p}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/x")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Error("a truncated body reached the client as complete")
	}
	if n := p.targets[0].InFlight(); n != 0 {
		t.Errorf("in flight = %d after the request ended, want 0", n)
	}
}

func TestH1RetiredPoolKeepsNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	tr := newTestH1(time.Second)
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Body = nil
	res, err := tr.RoundTrip(req, &head{in: req.Header})
	if err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections() // retired while the response is in flight
	io.ReadAll(res.Body)
	res.Body.Close()
	if n := len(tr.idle[strings.TrimPrefix(srv.URL, "http://")]); n != 0 {
		t.Errorf("%d connections pooled after retirement", n)
	}
}
