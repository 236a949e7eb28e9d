package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/http1"
)

// isResponseError reports a response the codec's rules refuse.
func isResponseError(err error) bool {
	_, ok := errors.AsType[*guard.ResponseError](err)
	return ok
}

// h1Transport is a synchronous HTTP/1.1 client: the calling goroutine
// writes the request and reads the response itself. net/http's Transport
// hands every request to a writer and a reader goroutine per connection;
// on a small machine those handoffs were a large share of the proxy's
// CPU. It serves HTTP/1.1 requests, upgrades included (eligible), over
// cleartext and over TLS (withTLS, h1tls.go); HTTP/2 goes through
// net/http's Transport. A body of more than h1MaxBody bytes, or of unknown
// length (sent chunked), is written from a goroutine of its own while the
// calling one reads the answer (bodyWriter). It writes
// the request head itself (head.write) and reads responses with
// http1.ResponseReader, the codec's strict client side.
//
// It keeps net/http.Transport's rules where they decide what a byte on the
// connection means:
//   - A connection is reused only when it holds nothing: no byte buffered
//     after the last response, and none waiting in the socket (looked for
//     with a non-blocking read on every reuse). Bytes an upstream sent
//     unasked (a second response, a body after a HEAD answer) would
//     otherwise be read as the next client's response; an end of file
//     means the upstream closed the idle connection.
//   - Response heads, a final one and any 1xx before it together, are
//     read within a byte limit (maxHeader), as the Transport's
//     MaxResponseHeaderBytes; a head ParseResponseHead refuses (two
//     Content-Lengths, Content-Length with Transfer-Encoding, obs-fold,
//     bare LF...) fails the exchange, where net/http would pick a reading.
//   - A request is sent again on a fresh connection only as net/http
//     does: when nothing of it was written, or when it is replayable (GET,
//     HEAD, OPTIONS, TRACE without a body) and the reused connection broke
//     before any byte of the response came.
//   - 1xx interim responses are read past; Connection: close, HTTP/1.0
//     and bodies read to end of file retire the connection; HEAD, 204 and
//     304 have no body (the response reader frames them).
type h1Transport struct {
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle       int
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxHeader     int64 // response head limit

	// tls is the client config for https targets (nil: cleartext), and
	// handshakeTimeout bounds its handshake.
	tls              *tls.Config
	handshakeTimeout time.Duration

	mu      sync.Mutex
	idle    map[string][]*h1Conn     // by host:port, most recently used last
	closed  bool                     // after CloseIdleConnections: pool nothing
	alpn    map[string]string        // by host:port, what a TLS target picked when last dialed: "h2" or "http/1.1"
	probing map[string]chan struct{} // by host:port, closed when the dial learning alpn ends (awaitProbe)
}

// h1MaxBody bounds the bodies the calling goroutine writes itself: small
// enough to fit in socket buffers, so writing cannot stall against an
// upstream that answers before reading. Larger ones get a bodyWriter.
const h1MaxBody = 64 << 10

// DefaultMaxResponseHeaderBytes bounds an upstream's response head when
// the upstream sets no limit of its own (net/http's Transport default is
// 1 MiB; 64 KiB is ample for any API).
const DefaultMaxResponseHeaderBytes = 64 << 10

// h1Conn is one upstream connection. Its reader counts the bytes it takes
// from the connection, its writer those written for the request.
type h1Conn struct {
	net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	rr      *http1.ResponseReader
	idleAt  time.Time
	read    int64       // bytes read from the connection, in all
	written int64       // bytes written to the connection, in all
	check   *quietCheck // on the socket
	abort   func()      // unblocks any read or write: the request was canceled
	records *recordConn // under a TLS connection; nil in cleartext
	probe   [1]byte     // tlsQuiet's read
}

type h1Reader struct{ pc *h1Conn }

func (r h1Reader) Read(p []byte) (int, error) {
	n, err := r.pc.Conn.Read(p)
	r.pc.read += int64(n)
	return n, err
}

type h1Writer struct{ pc *h1Conn }

func (w h1Writer) Write(p []byte) (int, error) {
	n, err := w.pc.Conn.Write(p)
	w.pc.written += int64(n)
	return n, err
}

// newH1Conn makes a connection of c (a TLS connection, or socket itself),
// whose socket is socket.
func newH1Conn(c, socket net.Conn, maxHeader int64) *h1Conn {
	pc := &h1Conn{Conn: c, check: newQuietCheck(socket)}
	pc.br = bufio.NewReaderSize(h1Reader{pc}, 16<<10)
	pc.rr = http1.NewResponseReader(pc.br, int(maxHeader))
	pc.bw = bufio.NewWriterSize(h1Writer{pc}, 16<<10)
	pc.abort = func() { _ = pc.SetDeadline(time.Unix(1, 0)) } // made once, not per request
	return pc
}

func newH1Transport(dial func(context.Context, string, string) (net.Conn, error), maxIdle int, headerTimeout time.Duration, maxHeader int64) *h1Transport {
	if maxHeader <= 0 {
		maxHeader = DefaultMaxResponseHeaderBytes
	}
	return &h1Transport{dial: dial, maxIdle: maxIdle, headerTimeout: headerTimeout, idleTimeout: 90 * time.Second,
		maxHeader: maxHeader, idle: map[string][]*h1Conn{},
		alpn: map[string]string{}, probing: map[string]chan struct{}{}}
}

// withTLS makes t a client of https targets, with cfg. It offers HTTP/2
// by ALPN when cfg does (a target that picks it is served by net/http's
// Transport, see speaksH2), and HTTP/1.1.
func (t *h1Transport) withTLS(cfg *tls.Config, handshakeTimeout time.Duration) *h1Transport {
	t.tls = cfg
	t.handshakeTimeout = handshakeTimeout
	return t
}

// eligible says whether the synchronous client can send req with head h.
func (t *h1Transport) eligible(req *http.Request, h *head) bool {
	if req.URL.Scheme != "http" && (req.URL.Scheme != "https" || t.tls == nil) || !h.writable(req) {
		return false
	}
	return req.Body == nil || req.ContentLength != 0
}

// replayable reports a request net/http's Transport would send again after
// a reused connection broke: an idempotent, safe method without a body.
func replayable(req *http.Request) bool {
	if req.Body != nil {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// RoundTrip sends req, with head h, on a pooled or new connection; the
// caller has checked that it is eligible. When a reused connection fails
// the request is sent again on a new one, once, if net/http's rules allow
// (see h1Transport).
func (t *h1Transport) RoundTrip(req *http.Request, h *head) (*http.Response, error) {
	ctx := req.Context()
	key := req.URL.Host
	for try := 0; ; try++ {
		pc, reused := t.get(key)
		if pc == nil {
			var err error
			if pc, err = t.connect(ctx, req.URL.Scheme, key, h.upgrade != ""); err != nil {
				return nil, err
			}
		}
		written, read := pc.written, pc.read
		res, err := t.exchange(ctx, pc, req, h, key)
		if err == nil {
			return res, nil
		}
		pc.Close()
		if reused && try == 0 && ctx.Err() == nil && resendable(req, err, pc.written == written, pc.read == read) {
			continue // the upstream closed the idle connection: try a fresh one
		}
		return nil, err
	}
}

// connect dials a new connection to addr; over TLS, offering HTTP/1.1
// alone when h1only (an upgrade: HTTP/2 has none).
func (t *h1Transport) connect(ctx context.Context, scheme, addr string, h1only bool) (*h1Conn, error) {
	if scheme == "https" {
		return t.dialTLS(ctx, addr, h1only)
	}
	c, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newH1Conn(c, c, t.maxHeader), nil
}

// resendable says whether a request that failed on a reused connection
// may go again on a fresh one, as net/http's Transport would send it:
// when nothing of it was written, or when it is replayable and nothing of
// an answer came. A request with a body never goes again: its body was
// read (into the write buffer at least) and cannot be read twice. Nor
// does one that timed out or got an answer the codec refused.
func resendable(req *http.Request, err error, wroteNothing, readNothing bool) bool {
	if req.Body != nil || errors.Is(err, errHeaderTimeout) || isResponseError(err) {
		return false
	}
	return wroteNothing || replayable(req) && readNothing
}

var errHeaderTimeout = &timeoutError{"timeout awaiting response headers"}

type timeoutError struct{ msg string }

func (e *timeoutError) Error() string   { return e.msg }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Temporary() bool { return true }

func (t *h1Transport) exchange(ctx context.Context, pc *h1Conn, req *http.Request, h *head, key string) (*http.Response, error) {
	// Cancellation (client gone, request timeout) unblocks any read or
	// write by moving the deadline into the past.
	stop := context.AfterFunc(ctx, pc.abort)
	release := func(err error) error {
		stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	var bw *bodyWriter
	if req.Body != nil && (req.ContentLength > h1MaxBody || req.ContentLength < 0) {
		if err := h.writeHead(pc.bw, req); err != nil {
			return nil, release(err)
		}
		bw = startBody(pc, req, t.headerTimeout)
	} else {
		if err := h.write(pc.bw, req); err != nil {
			return nil, release(err)
		}
		if err := pc.bw.Flush(); err != nil {
			return nil, release(err)
		}
		if t.headerTimeout > 0 {
			_ = pc.SetReadDeadline(time.Now().Add(t.headerTimeout))
		}
	}
	// 1xx interim responses (100 Continue, 103 Early Hints) are read
	// past, not forwarded; a 101 is final for an upgrade, refused for
	// the rest.
	var res *http.Response
	var err error
	if h.upgrade != "" {
		res, err = pc.rr.ReadUpgradeResponse(req)
	} else {
		res, err = pc.rr.ReadResponse(req)
	}
	if err != nil {
		if bw != nil {
			pc.abort() // stop the writer, if it still writes
			<-bw.done
			if bw.fromClient {
				err = bw.err // the client's body broke off: the cause, not the abort
			}
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() && ctx.Err() == nil {
			err = errHeaderTimeout
		}
		return nil, release(err)
	}
	if bw != nil {
		bw.headRead(pc)
	} else if t.headerTimeout > 0 {
		_ = pc.SetReadDeadline(time.Time{})
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		if bw != nil && !bw.finished() {
			// The upstream switched before it had the request's body:
			// the body's rest would reach the new protocol.
			pc.abort()
			<-bw.done
			return nil, release(errSwitchedEarly)
		}
		// The connection is the upgraded stream's now: the forwarder
		// relays it, and ends it when the client's request ends.
		stop()
		res.Body = &switchedConn{pc: pc}
		return res, nil
	}
	// A connection that carried an upgrade request is not reused, even
	// when the upstream declined: it may have read on as the new protocol.
	reuse := !res.Close && !req.Close && res.ProtoAtLeast(1, 1) && h.upgrade == ""
	res.Body = &h1Body{rc: res.Body, pc: pc, t: t, key: key, reuse: reuse, stop: stop, bw: bw}
	return res, nil
}

// switchedConn is a 101's body: the upstream connection after the
// switch, read through the bytes buffered behind the 101's head, written
// straight to the connection. It is never pooled.
type switchedConn struct {
	pc   *h1Conn
	once sync.Once
}

func (s *switchedConn) Read(p []byte) (int, error)  { return s.pc.br.Read(p) }
func (s *switchedConn) Write(p []byte) (int, error) { return s.pc.Conn.Write(p) }
func (s *switchedConn) Close() error {
	s.once.Do(func() { s.pc.Close() })
	return nil
}

// bodyWriter writes a request body of more than h1MaxBody bytes, or of
// unknown length, from a goroutine of its own, while the calling one reads the answer: an
// upstream may answer before it has read the body (a 413, a 401), or
// while it reads it. As with net/http's Transport, the response header
// timeout starts once the body is written, and a connection whose body
// was not all written carries no other request. The goroutine never
// outlives the exchange: an error, or the end of the response body,
// waits for it (and closes the connection first if it still writes).
type bodyWriter struct {
	done       chan struct{}
	err        error // set before done is closed
	fromClient bool  // err is the client's body's: it broke off or came short
	mu         sync.Mutex
	read       bool // the response head was read: the header timeout no longer applies
	deadline   bool // the writer set the header timeout
}

func startBody(pc *h1Conn, req *http.Request, headerTimeout time.Duration) *bodyWriter {
	w := &bodyWriter{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		src := &sourceBody{r: req.Body}
		err := writeBody(pc.bw, src, req.ContentLength)
		if err == nil {
			err = pc.bw.Flush()
		}
		w.err = err
		w.fromClient = src.err != nil || err == errShortBody
		switch {
		case w.fromClient:
			pc.abort() // the exchange cannot complete: unblock the reader
		case err == nil && headerTimeout > 0:
			w.mu.Lock()
			if !w.read {
				_ = pc.SetReadDeadline(time.Now().Add(headerTimeout))
				w.deadline = true
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// writerGrace is how long the end of a response waits for its body's
// writer before closing the connection under it (net/http's Transport
// waits 50 ms, maxWriteWaitBeforeConnReuse).
const writerGrace = 50 * time.Millisecond

// errSwitchedEarly is a 101 to an upgrade request whose body was still
// being written.
var errSwitchedEarly = errors.New("the upstream switched protocols before it took the whole request body")

// finished reports that the writer is done.
func (w *bodyWriter) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// errBodyNotSent marks a body whose upstream answered before taking it all.
var errBodyNotSent = errors.New("the upstream answered before it took the whole request body")

// headRead says the response head came: a header timeout the writer set
// is lifted, and it sets none from now on.
func (w *bodyWriter) headRead(pc *h1Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.read = true
	if w.deadline {
		_ = pc.SetReadDeadline(time.Time{})
	}
}

// sourceBody records an error reading the client's body.
type sourceBody struct {
	r   io.ReadCloser
	err error
}

func (s *sourceBody) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

func (s *sourceBody) Close() error { return s.r.Close() }

// h1Body returns the connection to the pool once the response body has
// been read to the end, and closes it if the body is abandoned early.
type h1Body struct {
	rc    io.ReadCloser
	pc    *h1Conn
	t     *h1Transport
	key   string
	reuse bool
	stop  func() bool
	bw    *bodyWriter // nil for a body written before the response was read
	eof   bool
	done  bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		if b.eof {
			return 0, io.EOF
		}
		return 0, io.ErrUnexpectedEOF // abandoned: the connection is gone
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
		b.finish()
	} else if err != nil {
		b.reuse = false
		b.finish()
	}
	return n, err
}

func (b *h1Body) Close() error {
	if !b.eof {
		b.reuse = false
	}
	b.finish()
	return nil
}

func (b *h1Body) finish() {
	if b.done {
		return
	}
	b.done = true
	if w := b.bw; w != nil {
		select {
		case <-w.done:
		default:
			// The writer may be about to say it is done (its last write
			// returned before the upstream answered), so it is given a
			// moment, as net/http's Transport gives it. Past that, the
			// upstream answered before it took the whole body: the
			// connection cannot carry another request, and closing it
			// ends the writer's writes. It is waited for, so it never
			// reads the client's body after the handler returns.
			grace := time.NewTimer(writerGrace)
			select {
			case <-w.done:
			case <-grace.C:
				b.pc.Close()
				<-w.done
				w.err = errBodyNotSent
			}
			grace.Stop()
		}
		if w.err != nil {
			b.reuse = false
		}
	}
	// If the cancellation hook already fired, the connection's deadline
	// is in the past: it must not be reused. Nor may a connection that
	// holds bytes past the response: the upstream sent something unasked.
	if !b.stop() || b.pc.br.Buffered() > 0 {
		b.reuse = false
	}
	if !b.reuse {
		b.pc.Close()
		return
	}
	b.t.put(b.key, b.pc)
}

func (t *h1Transport) get(key string) (*h1Conn, bool) {
	now := time.Now()
	for {
		t.mu.Lock()
		list := t.idle[key]
		if len(list) == 0 {
			t.mu.Unlock()
			return nil, false
		}
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		t.idle[key] = list[:len(list)-1]
		t.mu.Unlock()
		if now.Sub(pc.idleAt) > t.idleTimeout || !pc.quiet() {
			pc.Close()
			continue
		}
		return pc, true
	}
}

// quiet reports that nothing arrived on the idle connection: no byte
// buffered, none held by the TLS layer, no byte and no end of file
// waiting in the socket.
func (pc *h1Conn) quiet() bool {
	if pc.br.Buffered() > 0 || pc.records != nil && !pc.tlsQuiet() {
		return false
	}
	return pc.check.quiet()
}

func (t *h1Transport) put(key string, pc *h1Conn) {
	pc.idleAt = time.Now()
	t.mu.Lock()
	list := t.idle[key]
	if t.closed || len(list) >= t.maxIdle {
		t.mu.Unlock()
		pc.Close()
		return
	}
	t.idle[key] = append(list, pc)
	t.mu.Unlock()
}

// CloseIdleConnections closes every pooled connection, and those that
// finish later instead of pooling them: the pool is being retired (a
// reload replaced it) and requests still in flight on it must not leave
// connections behind.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	t.closed = true
	t.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			pc.Close()
		}
	}
}

// transport sends eligible requests through the synchronous client and
// the rest through net/http's Transport: HTTP/2 (configured, or picked by
// a TLS target) and hosts net/http would rewrite (head.writable).
type transport struct {
	fast *h1Transport // nil where the upstream speaks HTTP/2 only
	std  *http.Transport
}

// RoundTrip sends req with head h.
func (t *transport) RoundTrip(req *http.Request, h *head) (*http.Response, error) {
	h2 := false // the request would be the synchronous client's but for HTTP/2
	if t.fast != nil && t.fast.eligible(req, h) {
		if h2 = h.upgrade == "" && t.fast.speaksH2(req.URL.Host); !h2 {
			res, err := t.fast.RoundTrip(req, h)
			if err != errChoseH2 {
				return res, err
			}
		}
	}
	req.Header = h.header()
	res, err := t.std.RoundTrip(req)
	if h2 && err == nil && res.ProtoMajor == 1 {
		// The target no longer picks HTTP/2: HTTP/1.1 goes back to the
		// synchronous client, and its codec, from the next request on.
		t.fast.forgetH2(req.URL.Host)
	}
	return res, err
}

func (t *transport) CloseIdleConnections() {
	if t.fast != nil {
		t.fast.CloseIdleConnections()
	}
	t.std.CloseIdleConnections()
}
