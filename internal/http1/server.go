package http1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-gw/rampart/internal/guard"
)

// Server serves HTTP/1.1 connections: each request head read once by a
// Reader, the request handed to Handler on the connection's goroutine,
// the response written through one buffered writer. Requests on a
// connection are served one at a time, in order (pipelined ones wait in
// the read buffer); keep-alive, Expect: 100-continue, chunked responses
// with trailers, Flush and Hijack work as net/http's server has them.
type Server struct {
	Handler http.Handler
	// MaxHeaderBytes bounds a request head and a trailer section.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds the reading of a request head, from its
	// first byte; IdleTimeout the wait for the next request on a kept-
	// alive connection. Zero: none.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// Refused answers a request the reader refused (a malformed head, a
	// refused chunked body): r stands in for the request, and the
	// connection closes after the answer. Nil: a bare 400.
	Refused func(w http.ResponseWriter, r *http.Request, err *guard.WireError)
	// ConnContext may add to the context of a connection's requests.
	ConnContext func(ctx context.Context, c net.Conn) context.Context
	// H2 takes over a connection that opened with the HTTP/2 preface
	// (cleartext HTTP/2 with prior knowledge), given the bytes already
	// read from it; nil: the connection is refused.
	H2 func(c net.Conn, read []byte)
	// Log gets the panics of handlers other than http.ErrAbortHandler;
	// nil: they are not logged (the connection is dropped either way).
	Log *slog.Logger

	// The connections being served, for Shutdown and Close. A
	// connection joins and leaves under mu once; its state changes from
	// request to request without a lock (connState.state), as in
	// net/http's server, so that requests on different cores share no
	// lock here.
	mu       sync.Mutex
	conns    map[*connState]struct{}
	shutdown atomic.Bool
	// newGrace is how long a connection may wait for its first request
	// before a shutdown closes it as idle; zero: firstRequestGrace.
	newGrace time.Duration
}

// firstRequestGrace spares a connection that has not sent its first
// request from a shutdown for its first seconds, as net/http's server
// does (golang/go#22682): a client that connected just before the drain
// is most likely sending a request, which is served with Connection:
// close. After it, the connection counts as idle.
const firstRequestGrace = 5 * time.Second

// track adds cs to the connections served; false once the server is
// shutting down (cs is then not served).
func (s *Server) track(cs *connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = map[*connState]struct{}{}
	}
	s.conns[cs] = struct{}{}
	return true
}

func (s *Server) untrack(cs *connState) {
	s.mu.Lock()
	delete(s.conns, cs)
	s.mu.Unlock()
}

// Shutdown stops the server taking new connections, closes the
// connections waiting for a request (CloseIdle), and has every other one
// close after the response it is writing. It does not wait: ServeConn
// returns when its connection ends. Call CloseIdle until then: a
// connection spared for its first request counts as idle after
// firstRequestGrace.
func (s *Server) Shutdown() {
	s.shutdown.Store(true)
	s.CloseIdle()
}

// CloseIdle closes the connections waiting for their next request, and
// those that have waited for their first one longer than
// firstRequestGrace.
func (s *Server) CloseIdle() {
	grace := s.newGrace
	if grace == 0 {
		grace = firstRequestGrace
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for cs := range s.conns {
		// A connection stores its idle state before it looks at
		// shutdown, and Shutdown stores shutdown before it looks at
		// the states: one of the two sees the other.
		switch http.ConnState(cs.state.Load()) {
		case http.StateIdle:
		case http.StateNew:
			if now.Sub(cs.accepted) < grace {
				continue
			}
		default:
			continue
		}
		_ = cs.c.Close()
	}
}

// Close closes every connection being served now.
func (s *Server) Close() {
	s.shutdown.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for cs := range s.conns {
		_ = cs.c.Close()
	}
}

type hostMissingKey struct{}

// HostMissing reports whether the HTTP/1.0 request of ctx had no Host
// field at all, rather than an empty one (net/http reads both as
// Request.Host ""; the WAF's rules tell them apart).
func HostMissing(ctx context.Context) bool {
	m, _ := ctx.Value(hostMissingKey{}).(bool)
	return m
}

// connState is what a connection keeps from one request to the next.
type connState struct {
	c        net.Conn
	accepted time.Time    // when ServeConn took it
	state    atomic.Int32 // an http.ConnState
	remote   string       // the client's address, for Request.RemoteAddr
	buf      []byte       // the held body of a response, reused
}

// bodyBufferSize is how much of a response is held before its head is
// written: a response that ends within it gets a Content-Length, a
// longer one is chunked (net/http holds as much).
const bodyBufferSize = 2048

// maxDrain bounds the unread request body discarded after a response so
// that the connection can serve the next request; past it, it closes.
const maxDrain = 256 << 10

// ServeConn serves c until it closes, the client or the server ends it,
// or ctx is done; c is closed on return unless a handler hijacked it.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	cr := &connReader{conn: c}
	br := bufio.NewReaderSize(cr, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	maxHeader := s.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = 1 << 20
	}
	rd := NewReader(br, maxHeader)
	cs := &connState{c: c, accepted: time.Now(), remote: c.RemoteAddr().String()}
	if !s.track(cs) {
		_ = c.Close()
		return
	}
	defer s.untrack(cs)
	if s.ConnContext != nil {
		ctx = s.ConnContext(ctx, c)
	}
	// The connection's own context: each request's hangs from it, so a
	// request's context joins and leaves this connection's, not the
	// server's, which every connection shares (one lock for them all).
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	hijacked := false
	// new (before its first request), active (a request head was read),
	// idle (waiting for the next), hijacked or closed, as net/http's
	// Server.ConnState: what Shutdown and CloseIdle go by
	state := func(st http.ConnState) { cs.state.Store(int32(st)) }
	defer func() {
		if !hijacked {
			_ = c.Close()
			state(http.StateClosed)
		}
	}()
	state(http.StateNew)
	for first := true; ; first = false {
		if !first {
			state(http.StateIdle)
		}
		// (a connection whose first request has yet to come is spared
		// by a shutdown for firstRequestGrace: CloseIdle ends it)
		if ctx.Err() != nil || (!first && s.shutdown.Load()) {
			return
		}
		if !first && s.IdleTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(s.IdleTimeout))
			if _, err := br.Peek(1); err != nil {
				return // idle past the timeout, or the client left
			}
		}
		if s.ReadHeaderTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(s.ReadHeaderTimeout))
		}
		// The request's context is canceled when its handler returns
		// or its client leaves; the request is made with it.
		rctx, cancel := context.WithCancel(ctx)
		req, err := rd.ReadRequestContext(rctx)
		_ = c.SetReadDeadline(time.Time{})
		switch werr, refused := errors.AsType[*guard.WireError](err); {
		case err == nil:
		case err == ErrH2Preface && s.H2 != nil:
			cancel()
			hijacked = true
			state(http.StateHijacked)
			read := append([]byte(nil), rd.block...)
			buffered, _ := br.Peek(br.Buffered())
			s.H2(c, append(read, buffered...))
			return
		case refused:
			cancel()
			s.refuse(ctx, c, bw, werr)
			return
		default:
			cancel()
			return // the client left, or was too slow
		}
		state(http.StateActive)
		if rd.head.HTTP10 && !rd.head.HasHost {
			req = req.WithContext(context.WithValue(rctx, hostMissingKey{}, true))
		}
		w, done := s.serve(cancel, c, cs, cr, br, bw, req)
		if w.hijacked {
			hijacked = true
			state(http.StateHijacked)
			return
		}
		if done {
			return
		}
	}
}

// serve runs the handler for one request and finishes its response; done
// is set when the connection must close after it. cancel cancels the
// request's context: serve calls it when the handler returns.
func (s *Server) serve(cancel context.CancelFunc, c net.Conn, cs *connState, cr *connReader, br *bufio.Reader, bw *bufio.Writer, req *http.Request) (w *response, done bool) {
	defer cancel()
	req.RemoteAddr = cs.remote
	if ts, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		st := ts.ConnectionState()
		req.TLS = &st
	}
	w = &response{c: c, cr: cr, br: br, bw: bw, req: req, header: http.Header{}, contentLength: -1, buf: cs.buf[:0], draining: &s.shutdown}
	defer func() {
		if !w.hijacked && cap(w.buf) <= bodyBufferSize {
			cs.buf = w.buf[:0] // the next response holds its body in it again
		}
	}()
	// ParseHead let through no Expect but one 100-continue, which an
	// HTTP/1.0 client's server ignores (RFC 9110 §10.1.1).
	if len(req.Header["Expect"]) > 0 && req.ProtoMinor == 1 && req.ContentLength != 0 {
		req.Body = &continueReader{w: w, body: req.Body}
	}
	w.body = req.Body
	cr.arm(cancel, br)
	switch b := unwrapBody(req.Body).(type) {
	case *lengthBody:
		b.eof = cr.startBackgroundRead
	case *chunkedBody:
		b.eof = cr.startBackgroundRead
	default: // no body: watch the connection now
		cr.startBackgroundRead()
	}
	aborted := false
	func() {
		defer func() {
			if p := recover(); p != nil {
				// As net/http: the connection is dropped without a
				// response; a panic other than ErrAbortHandler is logged.
				aborted = true
				if p != http.ErrAbortHandler && s.Log != nil {
					s.Log.Error("panic serving an HTTP/1.1 request", "remote", cs.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				}
			}
		}()
		s.Handler.ServeHTTP(w, req)
	}()
	cr.stopBackgroundRead()
	if w.hijacked || aborted {
		return w, true // (a hijacked connection is the handler's; an aborted one closes unanswered)
	}
	refused := bodyRefusal(w.body) != nil
	if refused {
		w.closeAfter = true // the body was refused: nothing after it is read
	}
	w.finish()
	if refused {
		_ = bw.Flush()
		closeWrite(c)
		return w, true
	}
	if !w.closeAfter && !req.Close && !w.drain() {
		w.closeAfter = true
	}
	if err := bw.Flush(); err != nil {
		return w, true
	}
	closing := w.closeAfter || req.Close
	if closing && !bodyRead(w.body) {
		// The client may still be sending the body (an upload the
		// handler answered without reading it all): closing at once
		// would reset the connection under the answer, and the client
		// might never read it. Half-close and linger, as net/http's
		// server does.
		closeWrite(c)
	}
	return w, closing
}

// bodyRead says whether a request body was read to its end (or there was
// none, or the client was never asked for it).
func bodyRead(body io.ReadCloser) bool {
	if cr, ok := body.(*continueReader); ok && !cr.sent {
		return true // 100 Continue never went: the client sends nothing unasked
	}
	switch b := unwrapBody(body).(type) {
	case *lengthBody:
		return b.left == 0
	case *chunkedBody:
		return b.err == io.EOF
	}
	return true
}

// refuse answers a refused request through Refused, on a stand-in
// request, and closes the connection after it.
func (s *Server) refuse(ctx context.Context, c net.Conn, bw *bufio.Writer, werr *guard.WireError) {
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	r.Host, r.RemoteAddr, r.Close = "", c.RemoteAddr().String(), true
	w := &response{c: c, bw: bw, req: r, header: http.Header{}, contentLength: -1, closeAfter: true}
	if s.Refused != nil {
		s.Refused(w, r, werr)
	} else {
		w.WriteHeader(werr.Type.Status)
	}
	w.finish()
	_ = bw.Flush()
	closeWrite(c)
}

// closeWrite half-closes c and lets the client read what was written
// before the close, so that it sees the answer rather than a reset: what
// it still sends is discarded until it closes too, for half a second at
// most (net/http's server waits as long). A limit in bytes instead would
// reset the connection at once under a client still uploading.
func closeWrite(c net.Conn) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = io.Copy(io.Discard, c)
	}
}

// bodyRefusal is the wire refusal a request body ended in, if any.
func bodyRefusal(body io.ReadCloser) *guard.WireError {
	if cr, ok := body.(*continueReader); ok {
		body = cr.body
	}
	if cb, ok := body.(*chunkedBody); ok {
		var werr *guard.WireError
		if errors.As(cb.err, &werr) {
			return werr
		}
	}
	return nil
}

// unwrapBody is the body as the Reader made it.
func unwrapBody(b io.ReadCloser) io.ReadCloser {
	if cr, ok := b.(*continueReader); ok {
		return cr.body
	}
	return b
}

// continueReader sends 100 Continue before the first read of a body the
// client waits to send.
type continueReader struct {
	w    *response
	body io.ReadCloser
	sent bool
}

func (r *continueReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		if !r.w.wroteHeader {
			_, _ = r.w.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			_ = r.w.bw.Flush()
		}
	}
	return r.body.Read(p)
}

func (r *continueReader) Close() error { return r.body.Close() }

// connReader is the connection as its requests are read: while a handler
// runs with the request body read, one background read watches for the
// client leaving (which cancels the request) and keeps the byte it gets
// for the next request.
type connReader struct {
	conn net.Conn

	mu      sync.Mutex
	stash   []byte // read by the background read, for the next Read
	armed   bool   // a handler runs: a background read may start
	cancel  context.CancelFunc
	br      *bufio.Reader
	bg      bool // a background read is in progress
	waiting bool // its timer is set
	timer   *time.Timer
	bgDone  chan struct{}
	aborted bool // the background read was ended by stopBackgroundRead
}

func (r *connReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	if len(r.stash) > 0 {
		n := copy(p, r.stash)
		r.stash = r.stash[n:]
		r.mu.Unlock()
		return n, nil
	}
	r.mu.Unlock()
	return r.conn.Read(p)
}

// arm readies the background read of one request: cancel cancels it.
func (r *connReader) arm(cancel context.CancelFunc, br *bufio.Reader) {
	r.mu.Lock()
	r.armed, r.cancel, r.br = true, cancel, br
	r.mu.Unlock()
}

// watchDelay is how long a handler runs before the connection is
// watched for its client leaving: most requests are answered sooner,
// and the watch costs a goroutine, a read (a system call) and three
// deadline changes. A saturated gateway answers in milliseconds, not
// microseconds: at 5ms, four requests in ten were watched on one busy
// core, which paid for it in throughput. A client that leaves is
// noticed this long into its request at worst; what matters is that a
// request of seconds is canceled, not one of milliseconds.
const watchDelay = 100 * time.Millisecond

// startBackgroundRead watches the connection while the handler runs,
// once the request's body is all read (or it has none) and the handler
// has run watchDelay, unless the next request is already buffered: the
// client closing cancels the request. It may be called from any
// goroutine (the body's reader), until stopBackgroundRead.
func (r *connReader) startBackgroundRead() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.armed || r.bg || r.waiting || r.br.Buffered() > 0 {
		return
	}
	r.waiting = true
	if r.timer == nil {
		r.timer = time.AfterFunc(watchDelay, r.watch)
	} else {
		r.timer.Reset(watchDelay)
	}
}

// watch reads one byte while the handler runs: the client's next
// request, kept for it, or the end of the connection, which cancels the
// request.
func (r *connReader) watch() {
	r.mu.Lock()
	r.waiting = false
	if !r.armed || r.bg {
		r.mu.Unlock()
		return // the handler is done
	}
	r.bg, r.bgDone, r.aborted = true, make(chan struct{}), false
	done, cancel := r.bgDone, r.cancel
	r.mu.Unlock()
	defer close(done)
	_ = r.conn.SetReadDeadline(time.Time{}) // the body's deadline is no longer the client's to meet
	var b [1]byte
	n, err := r.conn.Read(b[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if n > 0 {
		r.stash = append(r.stash, b[0]) // a pipelined request: keep it
	}
	var ne net.Error
	if err != nil && !(r.aborted && errors.As(err, &ne) && ne.Timeout()) {
		cancel() // the client left
	}
}

// stopBackgroundRead ends the watch, if it started, and waits for it.
func (r *connReader) stopBackgroundRead() {
	r.mu.Lock()
	r.armed = false
	if r.waiting && r.timer.Stop() {
		r.waiting = false
	}
	if !r.bg {
		r.mu.Unlock()
		return // not started; if the timer fired meanwhile, watch sees armed unset
	}
	r.bg, r.aborted = false, true
	done := r.bgDone
	r.mu.Unlock()
	_ = r.conn.SetReadDeadline(time.Unix(1, 0))
	<-done
	_ = r.conn.SetReadDeadline(time.Time{})
}

// response is an http.ResponseWriter writing HTTP/1.1 to the connection.
type response struct {
	c    net.Conn
	cr   *connReader
	br   *bufio.Reader
	bw   *bufio.Writer
	req  *http.Request
	body io.ReadCloser // the request's body, as read by the handler

	header        http.Header
	status        int
	wroteHeader   bool  // WriteHeader was called with a final status
	sentHeader    bool  // the response head is on the wire (or in bw)
	contentLength int64 // declared, -1 for none
	chunked       bool
	written       int64
	buf           []byte // the body held before the head is sent
	sniff         []byte // the first write, when too large to hold: its type is sniffed
	trailers      []string
	closeAfter    bool
	draining      *atomic.Bool // the server's shutdown: set, the connection closes after this response
	hijacked      bool
	err           error // a write to the connection failed
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("http1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// informational: its own head, now (103 Early Hints)
		w.writeStatusLine(code)
		_ = w.header.Write(w.bw)
		_, _ = w.bw.WriteString("\r\n")
		_ = w.bw.Flush()
		return
	}
	w.wroteHeader, w.status = true, code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			w.header.Del("Content-Length")
		}
	}
}

// bodyAllowed reports whether the response may have a body.
func (w *response) bodyAllowed() bool {
	return w.req.Method != http.MethodHead && w.status != http.StatusNoContent && w.status != http.StatusNotModified &&
		!(w.status >= 100 && w.status < 200)
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !w.bodyAllowed() {
		if w.req.Method == http.MethodHead {
			w.written += int64(len(p))
			if !w.sentHeader && len(w.buf) < sniffLen {
				w.buf = append(w.buf, p[:min(len(p), sniffLen-len(w.buf))]...) // only to sniff its type
			}
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.sentHeader {
		if len(w.buf)+len(p) <= bodyBufferSize {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if len(w.buf) == 0 {
			w.sniff = p
		}
		w.sendHeader(false)
	}
	return len(p), w.writeBody(p)
}

func (w *response) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// writeBody writes body bytes after the head, in a chunk when chunked.
func (w *response) writeBody(p []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) > 0 {
		held := w.buf
		w.buf = held[:0] // kept for the connection's next response
		if err := w.writeBody(held); err != nil {
			return err
		}
	}
	if len(p) == 0 {
		return nil
	}
	if w.chunked {
		_, _ = w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		_, _ = w.bw.WriteString("\r\n")
	}
	if _, err := w.bw.Write(p); err != nil {
		w.err = err
		return err
	}
	if w.chunked {
		_, w.err = w.bw.WriteString("\r\n")
	}
	return w.err
}

func (w *response) writeStatusLine(code int) {
	_, _ = w.bw.WriteString("HTTP/1.1 ")
	// WriteHeader took only three-digit codes.
	_ = w.bw.WriteByte(byte('0' + code/100))
	_ = w.bw.WriteByte(byte('0' + code/10%10))
	_ = w.bw.WriteByte(byte('0' + code%10))
	_ = w.bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	_, _ = w.bw.WriteString(text)
	_, _ = w.bw.WriteString("\r\n")
}

// sendHeader writes the response head, framing the body: the declared
// Content-Length, the length of the whole body when final (the handler
// is done and all of it is held), else chunked (HTTP/1.1) or the end of
// the connection (HTTP/1.0).
func (w *response) sendHeader(final bool) {
	w.sentHeader = true
	h := w.header
	if _, declared := h["Trailer"]; declared {
		for _, v := range h["Trailer"] {
			for _, k := range strings.Split(v, ",") {
				if k = strings.TrimSpace(k); k != "" {
					w.trailers = append(w.trailers, http.CanonicalHeaderKey(k))
				}
			}
		}
	}
	// Fields the server adds go straight to the wire, not into the
	// handler's header map: no allocation for them.
	var extra [4][2]string
	n := 0
	add := func(k, v string) { extra[n] = [2]string{k, v}; n++ }
	autoLength := int64(-1)
	if _, ok := h["Date"]; !ok {
		add("Date", httpDate(time.Now()))
	}
	sniff := w.buf
	if len(sniff) == 0 {
		sniff = w.sniff
	}
	if _, ok := h["Content-Type"]; !ok && len(sniff) > 0 && h.Get("Transfer-Encoding") == "" && statusHasBody(w.status) {
		add("Content-Type", http.DetectContentType(sniff))
	}
	w.sniff = nil
	if w.req.Method == http.MethodHead {
		w.buf = nil // held only to sniff
	}
	te := h.Get("Transfer-Encoding")
	switch {
	case !w.bodyAllowed():
		if w.req.Method == http.MethodHead && final && w.contentLength < 0 && w.written > 0 && w.status != http.StatusNoContent && w.status != http.StatusNotModified {
			autoLength = w.written
		}
		delete(h, "Transfer-Encoding")
		if w.status == http.StatusNoContent || w.status == http.StatusNotModified || (w.status >= 100 && w.status < 200) {
			delete(h, "Content-Length")
		}
	case te == "chunked" && w.req.ProtoMinor > 0:
		delete(h, "Content-Length")
		w.chunked, w.contentLength = true, -1
	case w.contentLength >= 0:
		delete(h, "Transfer-Encoding")
	case final && len(w.trailers) == 0:
		delete(h, "Transfer-Encoding")
		w.contentLength = int64(len(w.buf))
		autoLength = w.contentLength
	case w.req.ProtoMinor > 0:
		delete(h, "Content-Length")
		delete(h, "Transfer-Encoding")
		add("Transfer-Encoding", "chunked")
		w.chunked = true
	default: // HTTP/1.0 of unknown length: the end of the connection ends it
		delete(h, "Transfer-Encoding")
		w.closeAfter = true
	}
	switch {
	case w.closeAfter || w.req.Close || (w.draining != nil && w.draining.Load()) || httpguts.HeaderValuesContainsToken(h["Connection"], "close"):
		w.closeAfter = true
		delete(h, "Connection")
		add("Connection", "close")
	case w.req.ProtoMinor == 0: // HTTP/1.0 that asked to be kept alive
		delete(h, "Connection")
		add("Connection", "keep-alive")
	}
	if w.status == http.StatusSwitchingProtocols {
		delete(h, "Content-Length")
		delete(h, "Transfer-Encoding")
		autoLength = -1
	}
	w.writeStatusLine(w.status)
	var exclude map[string]bool // the trailers: written after the body
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			if exclude == nil {
				exclude = map[string]bool{}
			}
			exclude[k] = true
		}
	}
	for _, k := range w.trailers {
		if exclude == nil {
			exclude = map[string]bool{}
		}
		exclude[k] = true
	}
	if err := h.WriteSubset(w.bw, exclude); err != nil {
		w.err = err
	}
	for _, kv := range extra[:n] {
		_, _ = w.bw.WriteString(kv[0])
		_, _ = w.bw.WriteString(": ")
		_, _ = w.bw.WriteString(kv[1])
		_, _ = w.bw.WriteString("\r\n")
	}
	if autoLength >= 0 {
		var num [20]byte
		_, _ = w.bw.WriteString("Content-Length: ")
		_, _ = w.bw.Write(strconv.AppendInt(num[:0], autoLength, 10))
		_, _ = w.bw.WriteString("\r\n")
	}
	_, _ = w.bw.WriteString("\r\n")
}

// date is the Date field of the current second, formatted once.
type date struct {
	sec  int64
	text string
}

var dateNow atomic.Pointer[date]

// httpDate is now in the Date field's format (RFC 9110 IMF-fixdate).
func httpDate(now time.Time) string {
	sec := now.Unix()
	if d := dateNow.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &date{sec: sec, text: now.UTC().Format(http.TimeFormat)}
	dateNow.Store(d)
	return d.text
}

// sniffLen is how much of a body net/http's DetectContentType reads.
const sniffLen = 512

// statusHasBody reports whether a response with the status may have a
// body (whatever the method).
func statusHasBody(code int) bool {
	return code != http.StatusNoContent && code != http.StatusNotModified && !(code >= 100 && code < 200)
}

// finish completes the response after the handler: the head if not yet
// sent, the held body, the last chunk and the trailers.
func (w *response) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHeader {
		w.sendHeader(true)
	}
	_ = w.writeBody(nil)
	if w.chunked {
		_, _ = w.bw.WriteString("0\r\n")
		trailer := http.Header{}
		for _, k := range w.trailers {
			if vv, ok := w.header[k]; ok {
				trailer[k] = vv
			}
		}
		for k, vv := range w.header {
			if t, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				trailer[http.CanonicalHeaderKey(t)] = vv
			}
		}
		_ = trailer.Write(w.bw)
		_, _ = w.bw.WriteString("\r\n")
	}
	if w.bodyAllowed() && w.contentLength >= 0 && w.written < w.contentLength {
		w.closeAfter = true // the client waits for bytes that will never come
	}
	if w.err != nil {
		w.closeAfter = true
	}
}

// drain discards what the handler left of the request body, so that the
// next request can be read; false when it cannot (too much, the client
// sent none after Expect: 100-continue, or an error).
func (w *response) drain() bool {
	body := w.body
	if cr, ok := body.(*continueReader); ok {
		if !cr.sent {
			return false // 100 Continue was never sent: the client may or may not send the body
		}
		body = cr.body
	}
	if body == http.NoBody || body == nil {
		return true
	}
	n, err := io.Copy(io.Discard, io.LimitReader(body, maxDrain+1))
	return err == nil && n <= maxDrain
}

// Flush sends the head, if not yet sent (chunked, unless a length was
// declared), and what is buffered.
func (w *response) Flush() {
	_ = w.FlushError()
}

// FlushError is Flush, with its error (http.ResponseController).
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHeader {
		w.sendHeader(false)
	}
	if err := w.writeBody(nil); err != nil {
		return err
	}
	return w.bw.Flush()
}

// Hijack hands the connection to the handler, with what is buffered of
// it (http.Hijacker): an upgrade's tunnel.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.sentHeader {
		return nil, nil, errors.New("http1: hijack after the response head was sent")
	}
	w.cr.stopBackgroundRead()
	w.hijacked = true
	if err := w.bw.Flush(); err != nil {
		return nil, nil, err
	}
	return w.c, bufio.NewReadWriter(w.br, w.bw), nil
}

// SetReadDeadline and SetWriteDeadline are the connection's, for
// http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error  { return w.c.SetReadDeadline(t) }
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.SetWriteDeadline(t) }
