package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// trusting is a client config that trusts srv's certificate and offers
// protos by ALPN.
func trusting(srv *httptest.Server, protos ...string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{RootCAs: pool, NextProtos: protos, MinVersion: tls.VersionTLS12}
}

// echoProto answers with the request's method, path, body length and
// protocol.
var echoProto = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %d %s", r.Method, r.URL.Path, len(b), r.Proto)
})

// TestH1TLS: an https target that speaks HTTP/1.1 is served by the
// synchronous client, small and large bodies, on one connection.
func TestH1TLS(t *testing.T) {
	srv, conns := countingTLSServer(t, echoProto, false)
	tr := newTestH1(time.Second).withTLS(trusting(srv, "h2", "http/1.1"), time.Second)
	defer tr.CloseIdleConnections()
	big := strings.Repeat("x", 2*h1MaxBody)
	for i := range 21 {
		var b string
		switch i % 3 {
		case 0:
			_, b = roundTrip(t, tr, "GET", srv.URL+"/a", nil, 0)
		case 1:
			_, b = roundTrip(t, tr, "POST", srv.URL+"/p", strings.NewReader("hello"), 5)
		default:
			_, b = roundTrip(t, tr, "POST", srv.URL+"/big", strings.NewReader(big), -1)
		}
		want := []string{"GET /a 0 HTTP/1.1", "POST /p 5 HTTP/1.1", fmt.Sprintf("POST /big %d HTTP/1.1", len(big))}[i%3]
		if b != want {
			t.Fatalf("request %d: %q, want %q", i, b, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("used %d connections for 21 sequential requests, want 1", n)
	}
}

// h2Server is a TLS server of echoProto that offers HTTP/2, each
// handshake with the config hello makes of the server's own; it is closed
// when the test ends.
func h2Server(t *testing.T, hello func(base *tls.Config) *tls.Config) *httptest.Server {
	srv := httptest.NewUnstartedServer(echoProto)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	base := srv.TLS.Clone()
	srv.TLS.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return hello(base), nil }
	return srv
}

// TestH1TLSPicksH2: a target that picks HTTP/2 by ALPN is served by
// net/http's Transport; when it stops offering HTTP/2, HTTP/1.1 comes back
// to the synchronous client.
func TestH1TLSPicksH2(t *testing.T) {
	var h2 atomic.Bool
	h2.Store(true)
	srv := h2Server(t, func(base *tls.Config) *tls.Config {
		c := base.Clone()
		c.NextProtos = []string{"http/1.1"}
		if h2.Load() {
			c.NextProtos = []string{"h2", "http/1.1"}
		}
		return c
	})
	cfg := trusting(srv, "h2", "http/1.1")
	tr := &transport{fast: newTestH1(time.Second).withTLS(cfg, time.Second),
		std: &http.Transport{TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: true}}
	defer tr.CloseIdleConnections()
	send := func() string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
		req.Body = nil
		res, err := tr.RoundTrip(req, &head{in: req.Header})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	for range 3 {
		if b := send(); b != "GET /x 0 HTTP/2.0" {
			t.Fatalf("with HTTP/2 offered: %q", b)
		}
	}
	host := strings.TrimPrefix(srv.URL, "https://")
	if !tr.fast.speaksH2(host) {
		t.Fatal("the target's choice of HTTP/2 is not remembered")
	}
	h2.Store(false)
	tr.std.CloseIdleConnections() // the Transport dials again, and gets HTTP/1.1
	if b := send(); b != "GET /x 0 HTTP/1.1" {
		t.Fatalf("after HTTP/2 went: %q", b)
	}
	if b := send(); b != "GET /x 0 HTTP/1.1" || tr.fast.speaksH2(host) || len(tr.fast.idle[host]) != 1 {
		t.Fatalf("HTTP/1.1 did not come back to the synchronous client: %q, h2 %v, %d idle", b, tr.fast.speaksH2(host), len(tr.fast.idle[host]))
	}
}

// TestH1TLSProbesOnce: the first requests to a target not known yet, at
// once, make one handshake to learn what it picks; when it picks HTTP/2,
// every one of them goes to the Transport (errChoseH2).
func TestH1TLSProbesOnce(t *testing.T) {
	var hellos atomic.Int32
	srv := h2Server(t, func(base *tls.Config) *tls.Config {
		hellos.Add(1)
		time.Sleep(20 * time.Millisecond) // a slow handshake: the others come meanwhile
		return base
	})
	tr := newTestH1(time.Second).withTLS(trusting(srv, "h2", "http/1.1"), time.Second)
	defer tr.CloseIdleConnections()
	errs := make(chan error, 20)
	for range cap(errs) {
		go func() {
			req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
			req.Body = nil
			res, err := tr.RoundTrip(req, &head{in: req.Header})
			if err == nil {
				res.Body.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != errChoseH2 {
			t.Fatalf("a first request to an HTTP/2 target: %v, want errChoseH2", err)
		}
	}
	if n := hellos.Load(); n != 1 {
		t.Errorf("%d handshakes to learn that the target picks HTTP/2, want 1", n)
	}
}

// rawTLSServer serves each TLS connection with handle, offering protos by
// ALPN (HTTP/1.1 when none); it returns the address and a client config
// that trusts it.
func rawTLSServer(t *testing.T, handle func(c *tls.Conn), protos ...string) (string, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS() // for its certificate
	cfg := srv.TLS.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	if len(protos) > 0 {
		cfg.NextProtos = protos
	}
	client := trusting(srv, "http/1.1")
	srv.Close()
	addr := rawServer(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		defer tc.Close()
		handle(tc)
	})
	return addr, client
}

// TestH1TLSUnaskedBytes: bytes a TLS upstream sends after its answer, in
// the answer's record or in a later one, or its close_notify, keep the
// connection from being reused; the next request gets its own answer on a
// fresh connection.
func TestH1TLSUnaskedBytes(t *testing.T) {
	var conns atomic.Int32
	written := make(chan struct{}, 1) // all a first answer's bytes are sent
	addr, cfg := rawTLSServer(t, func(c *tls.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			switch r.URL.Path {
			case "/same-record":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen")
			case "/later-record":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
				time.Sleep(20 * time.Millisecond)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen")
			case "/close-notify":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
				c.CloseWrite()
			default:
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nvictim")
				continue
			}
			written <- struct{}{}
		}
	})
	tr := newTestH1(time.Second).withTLS(cfg, time.Second)
	defer tr.CloseIdleConnections()
	url := "https://" + addr
	for i, path := range []string{"/same-record", "/later-record", "/close-notify"} {
		if _, b := roundTrip(t, tr, "GET", url+path, nil, 0); b != "first" {
			t.Fatalf("%s: %q", path, b)
		}
		<-written
		time.Sleep(5 * time.Millisecond) // for loopback to deliver the last write
		if _, b := roundTrip(t, tr, "GET", url+"/next", nil, 0); b != "victim" {
			t.Fatalf("after %s the next request got %q", path, b)
		}
		if n := conns.Load(); n != int32(i+2) {
			t.Fatalf("after %s: %d connections, want %d (the one with unasked bytes dropped)", path, n, i+2)
		}
	}
}

// TestTLSQuietSeesPlaintext: plaintext crypto/tls has decrypted but not
// handed out makes a connection not quiet, though its socket is empty.
func TestTLSQuietSeesPlaintext(t *testing.T) {
	addr, cfg := rawTLSServer(t, func(c *tls.Conn) {
		io.WriteString(c, strings.Repeat("u", 100)) // one record, unasked
		time.Sleep(time.Second)
	})
	tr := newTestH1(time.Second).withTLS(cfg, time.Second)
	pc, err := tr.dialTLS(t.Context(), addr, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	buf := make([]byte, 10)
	if _, err := io.ReadFull(pc.Conn, buf); err != nil {
		t.Fatal(err)
	}
	if !pc.records.atBoundary() {
		t.Fatal("recordConn handed out part of a record")
	}
	if pc.quiet() {
		t.Fatal("90 bytes of plaintext held by crypto/tls, and the connection is quiet")
	}
}

// TestTLSQuietAfterTimeout: a connection whose quiet check found nothing
// still reads and writes afterwards (the past deadline broke nothing).
func TestTLSQuietAfterTimeout(t *testing.T) {
	srv, conns := countingTLSServer(t, echoProto, false)
	tr := newTestH1(time.Second).withTLS(trusting(srv, "http/1.1"), time.Second)
	defer tr.CloseIdleConnections()
	for i := range 3 {
		if _, b := roundTrip(t, tr, "GET", srv.URL+"/q", nil, 0); b != "GET /q 0 HTTP/1.1" {
			t.Fatalf("request %d: %q", i, b)
		}
		pc := tr.idle[strings.TrimPrefix(srv.URL, "https://")][0]
		for range 2 { // twice: a check leaves the connection as it found it
			if !pc.quiet() {
				t.Fatal("an idle TLS connection is not quiet")
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// chunkConn serves its bytes n at a time, then a timeout.
type chunkConn struct {
	net.Conn
	data []byte
	n    int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	k := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[k:]
	return k, nil
}

func record(n int) []byte {
	return append([]byte{23, 3, 3, byte(n >> 8), byte(n)}, bytes.Repeat([]byte{byte(n)}, n)...)
}

// TestRecordConn: whatever the socket delivers at once, crypto/tls is
// never handed a byte past the end of the record it reads, and a partial
// record stays visible.
func TestRecordConn(t *testing.T) {
	stream := bytes.Join([][]byte{record(3), record(0), record(300), record(1), record(16<<10 + 256)}, nil)
	for _, chunk := range []int{1, 4, 5, 7, 512, len(stream)} {
		for _, read := range []int{1, 5, 6, 100, 20 << 10} {
			if err := readRecords(stream, chunk, read); err != nil {
				t.Fatal(err)
			}
		}
	}
	rc := newRecordConn(&chunkConn{data: record(10)[:8], n: 3})
	p := make([]byte, 100)
	for {
		if _, err := rc.Read(p); err != nil {
			break
		}
	}
	if rc.atBoundary() {
		t.Error("a partial record is taken for a boundary")
	}
	rc = newRecordConn(&chunkConn{data: record(10)[:3], n: 3})
	if n, err := rc.Read(p); n != 0 || err == nil || rc.atBoundary() {
		t.Errorf("a partial header: %d bytes, %v, at boundary %v", n, err, rc.atBoundary())
	}
}

// readRecords reads stream through a recordConn, the socket delivering
// chunk bytes at a time and the reader asking for read: every read must
// lie within one record, and every byte come through, in order.
func readRecords(stream []byte, chunk, read int) error {
	rc := newRecordConn(&chunkConn{data: stream, n: chunk})
	var got []byte
	p := make([]byte, read)
	for {
		n, err := rc.Read(p)
		start := len(got)
		got = append(got, p[:n]...)
		if !withinRecord(stream, start, len(got)) {
			return fmt.Errorf("chunk %d, read %d: bytes %d-%d cross a record's end", chunk, read, start, len(got))
		}
		if err != nil {
			break
		}
	}
	// A stream that ends inside a record leaves it partly handed out, or
	// (a partial header) in the buffer.
	whole := endsAtRecord(stream)
	if whole && (!bytes.Equal(got, stream) || !rc.atBoundary()) || !whole && rc.atBoundary() {
		return fmt.Errorf("chunk %d, read %d: got %d of %d bytes, at boundary %v", chunk, read, len(got), len(stream), rc.atBoundary())
	}
	if !bytes.Equal(got, stream[:len(got)]) {
		return fmt.Errorf("chunk %d, read %d: the bytes handed out differ from the stream's", chunk, read)
	}
	return nil
}

// FuzzRecordConn: any bytes (record headers of any length, streams cut
// anywhere), delivered and read in any sizes.
func FuzzRecordConn(f *testing.F) {
	f.Add(bytes.Join([][]byte{record(3), record(0), record(300)}, nil), uint16(7), uint16(5))
	f.Add(record(10)[:8], uint16(3), uint16(100))
	f.Add([]byte{23, 3, 3, 255, 255, 1, 2}, uint16(1), uint16(1))
	f.Fuzz(func(t *testing.T, stream []byte, chunk, read uint16) {
		if err := readRecords(stream, int(chunk%2048)+1, int(read%(20<<10))+1); err != nil {
			t.Fatal(err)
		}
	})
}

// withinRecord reports that stream[from:to] lies within one record.
func withinRecord(stream []byte, from, to int) bool {
	for at := 0; at+tlsRecordHeaderLen <= len(stream) && from < to; {
		end := at + tlsRecordHeaderLen + (int(stream[at+3])<<8 | int(stream[at+4]))
		if from < end {
			return from >= at && to <= end
		}
		at = end
	}
	return from == to
}

// endsAtRecord reports that stream ends where a record does.
func endsAtRecord(stream []byte) bool {
	at := 0
	for at+tlsRecordHeaderLen <= len(stream) {
		at += tlsRecordHeaderLen + (int(stream[at+3])<<8 | int(stream[at+4]))
	}
	return at == len(stream)
}

// upgradeHead is the head of a WebSocket upgrade request, as newHead
// makes it.
func upgradeHead(req *http.Request) *head {
	return &head{in: req.Header, upgrade: "websocket", set: []reqctx.Field{
		{Name: "Connection", Values: connUpgrade}, {Name: "Upgrade", Values: []string{"websocket"}}}}
}

// TestH1Upgrade: an upgrade goes through the synchronous client, over
// cleartext and over TLS (to a target that offers HTTP/2, which an
// upgrade cannot use): the 101 is read by the codec, the bytes the
// upstream sent right behind it come first, then both ways are relayed;
// the connection is never pooled, nor is one whose upgrade was declined.
func TestH1Upgrade(t *testing.T) {
	serve := func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if r.URL.Path == "/declined" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")
			io.Copy(io.Discard, br)
			return
		}
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("Connection") != "Upgrade" {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello")
		io.Copy(c, br) // echo
	}
	plain := rawServer(t, serve)
	tlsAddr, cfg := rawTLSServer(t, func(c *tls.Conn) { serve(c) }, "h2", "http/1.1")
	cfg.NextProtos = []string{"h2", "http/1.1"}
	for _, tc := range []struct {
		name, url string
		tr        *h1Transport
	}{
		{"cleartext", "http://" + plain, newTestH1(time.Second)},
		{"tls", "https://" + tlsAddr, newTestH1(time.Second).withTLS(cfg, time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", tc.url+"/ws", nil)
			req.Body = nil
			res, err := tc.tr.RoundTrip(req, upgradeHead(req))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", res.StatusCode)
			}
			stream, ok := res.Body.(io.ReadWriteCloser)
			if !ok {
				t.Fatalf("a 101's body is a %T, not the connection", res.Body)
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(stream, buf); err != nil || string(buf) != "hello" {
				t.Fatalf("the bytes behind the 101: %q %v", buf, err)
			}
			io.WriteString(stream, "ping")
			if _, err := io.ReadFull(stream, buf[:4]); err != nil || string(buf[:4]) != "ping" {
				t.Fatalf("echo: %q %v", buf[:4], err)
			}
			stream.Close()
			req, _ = http.NewRequest("GET", tc.url+"/declined", nil)
			req.Body = nil
			res, err = tc.tr.RoundTrip(req, upgradeHead(req))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != "no" {
				t.Fatalf("declined: %d %q", res.StatusCode, b)
			}
			host := strings.TrimPrefix(strings.TrimPrefix(tc.url, "http://"), "https://")
			if n := len(tc.tr.idle[host]); n != 0 {
				t.Errorf("%d connections pooled after upgrade requests", n)
			}
		})
	}
}

// BenchmarkTLSQuiet: the reuse check of an idle TLS connection (the
// plaintext probe and the socket's non-blocking read).
func BenchmarkTLSQuiet(b *testing.B) {
	srv := httptest.NewUnstartedServer(echoProto)
	srv.StartTLS()
	defer srv.Close()
	tr := newTestH1(time.Second).withTLS(trusting(srv, "http/1.1"), time.Second)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", srv.URL+"/q", nil)
	req.Body = nil
	res, err := tr.RoundTrip(req, &head{in: req.Header})
	if err != nil {
		b.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	pc := tr.idle[strings.TrimPrefix(srv.URL, "https://")][0]
	b.ReportAllocs()
	for b.Loop() {
		if !pc.quiet() {
			b.Fatal("not quiet")
		}
	}
}
