package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-gw/rampart/internal/guard"
)

// wireHeader carries a refused connection's nonce on the stand-in request
// (see wireConn). It has the identity prefix, so a client's own copy is
// stripped like any other.
const wireHeader = "X-Rampart-Wire"

// wireConn checks the HTTP/1.1 framing of a connection's requests before
// net/http reads them (guard.Wire). A refused header block never reaches
// the server: in its place the server reads a stand-in request carrying
// the connection's random nonce and Connection: close.
// The gateway answers the stand-in with the refusal as a problem, in the
// same path as every other refusal (request id, access log, event,
// metrics), and the connection closes.
//
// A refused chunked body (its head already reached the server) ends in
// bytes that net/http's chunked reader refuses whatever it expects next
// (bodyPoison): the handler's body read fails, the gateway finds the
// refusal (BodyFault) and answers 400, and nothing after it is read.
//
// After a request that asks for an upgrade, the wire holds what follows
// until the gateway says whether the protocol switched: Tunnel (the proxy
// relayed a 101) or upgradeDone (it did not; the held bytes are checked as
// the next request). The switch is applied by the reading goroutine, the
// only one that touches the wire.
type wireConn struct {
	net.Conn
	wire    guard.Wire
	nonce   string
	buf     []byte // what the client sent, read from Conn
	out     []byte // checked bytes not yet read by the server
	off     int
	ended   bool // a refusal was queued; nothing of the client's follows it
	standIn bool // a refusal of bytes held after an upgrade request waits for the outcome
	refusal atomic.Pointer[guard.WireError]
	body    atomic.Pointer[guard.WireError] // a refused chunked body
	outcome atomic.Int32                    // outcomeTunnel or outcomeResume, set by the request's goroutine

	mu          sync.Mutex
	http10Hosts []bool // per HTTP/1.0 request head checked and not yet served: whether it had a Host field
}

// tlsWireConn is a wireConn over a *tls.Conn whose handshake the listener
// completed. net/http sets Request.TLS from ConnectionState.
type tlsWireConn struct {
	*wireConn
	state tls.ConnectionState
}

func (c *tlsWireConn) ConnectionState() tls.ConnectionState { return c.state }

const (
	outcomeResume = 1
	outcomeTunnel = 2
)

// bodyPoison ends a refused chunked body: net/http's chunked reader fails
// on it at a chunk-size line ("\x00" is no hex digit), at the CRLF after
// chunk data ("\x00\r" is not CRLF) and in the trailer section (a field
// line without a colon, before the empty line it looks for).
const bodyPoison = "\x00\r\n\r\n"

// errTunnelRefused ends a tunnel whose client sent too much before the
// upgrade was answered.
var errTunnelRefused = errors.New("client data before the protocol switch was refused")

func newWireConn(c net.Conn, maxHeader int) *wireConn {
	var n [16]byte
	_, _ = rand.Read(n[:])
	return &wireConn{Conn: c, nonce: hex.EncodeToString(n[:]), wire: guard.Wire{MaxHeader: maxHeader}}
}

func (c *wireConn) Read(p []byte) (int, error) {
	for c.off == len(c.out) {
		if o := c.outcome.Load(); o != 0 && (o == outcomeTunnel || c.wire.Holding()) {
			c.outcome.Store(0)
			if err := c.switched(o); err != nil {
				return 0, err
			}
			continue
		}
		if c.ended {
			// What the client sends after a refusal is never passed on.
			// Reading on (and dropping it) rather than answering end of
			// file keeps a request still in flight on this connection
			// alive: net/http's background read takes end of file for
			// the client going away. The server closes the connection
			// after answering the refusal.
			if _, err := c.Conn.Read(c.buf); err != nil {
				return 0, err
			}
			continue
		}
		if c.wire.Off() {
			return c.Conn.Read(p)
		}
		if c.buf == nil {
			c.buf = make([]byte, 4096)
		}
		n, err := c.Conn.Read(c.buf)
		if n > 0 {
			var refused *guard.WireError
			c.out, refused = c.wire.Feed(c.out[:0], c.buf[:n])
			c.off = 0
			c.takeHeads()
			if refused != nil {
				c.refuse(refused)
			}
		}
		if err != nil && c.off == len(c.out) {
			// A deadline error keeps what is held: the server resets the
			// deadline and reads again (its background read does this).
			return 0, err
		}
	}
	n := copy(p, c.out[c.off:])
	c.off += n
	return n, nil
}

// refuse queues what the server reads in place of the refused bytes.
func (c *wireConn) refuse(e *guard.WireError) {
	c.ended = true
	switch {
	case e.InBody:
		c.body.Store(e)
		c.out = append(c.out, bodyPoison...)
	case c.wire.Holding():
		// The bytes after an upgrade request: a request head only if
		// the protocol does not switch.
		c.refusal.Store(e)
		c.standIn = true
	default:
		c.refusal.Store(e)
		c.out = append(c.out, c.standInRequest()...)
	}
}

func (c *wireConn) standInRequest() string {
	return "GET / HTTP/1.1\r\nHost: rampart.invalid\r\nConnection: close\r\n" + wireHeader + ": " + c.nonce + "\r\n\r\n"
}

// switched applies the outcome of an upgrade request; out is empty.
func (c *wireConn) switched(o int32) error {
	c.out, c.off = c.out[:0], 0
	if o == outcomeTunnel {
		if c.ended {
			return errTunnelRefused
		}
		c.out = append(c.out, c.wire.Tunnel()...)
		return nil
	}
	if c.standIn {
		c.standIn = false
		c.out = append(c.out, c.standInRequest()...)
		return nil
	}
	var refused *guard.WireError
	c.out, refused = c.wire.Resume(c.out)
	c.takeHeads()
	if refused != nil {
		c.refuse(refused)
	}
	return nil
}

// takeHeads queues what the wire noted of the HTTP/1.0 heads it passed,
// for the requests' goroutines (hostMissing).
func (c *wireConn) takeHeads() {
	if len(c.wire.HTTP10Hosts) == 0 {
		return
	}
	c.mu.Lock()
	c.http10Hosts = append(c.http10Hosts, c.wire.HTTP10Hosts...)
	c.mu.Unlock()
	c.wire.HTTP10Hosts = c.wire.HTTP10Hosts[:0]
}

// hostMissing reports whether the HTTP/1.0 request now served had no
// Host field at all (rather than an empty one); net/http reads both as
// Request.Host "". Requests on a connection are served in order, so the
// wire's notes are taken in order too.
func (c *wireConn) hostMissing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.http10Hosts) == 0 {
		return false
	}
	had := c.http10Hosts[0]
	c.http10Hosts = c.http10Hosts[1:]
	return !had
}

// Tunnel tells the wire that the connection switched protocols: the
// upstream answered 101 and the gateway relayed it. What the client sends
// from now on is passed unchecked.
func (c *wireConn) Tunnel() { c.outcome.Store(outcomeTunnel) }

// upgradeDone tells the wire that a request asking for an upgrade ended
// without one: what it held is the next request.
func (c *wireConn) upgradeDone() { c.outcome.CompareAndSwap(0, outcomeResume) }

// BodyFault reports why the wire refused the chunked body of the request
// in flight, or "" when it did not.
func (c *wireConn) BodyFault() (reason, detail string) {
	if e := c.body.Load(); e != nil {
		return e.Reason, e.Detail
	}
	return "", ""
}

// CloseWrite lets net/http half-close as it does on a bare connection.
func (c *wireConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// wireRefusal returns the refusal a request stands in for, or nil when it
// is a request the client sent.
func wireRefusal(r *http.Request, ci *connInfo) *guard.WireError {
	if ci != nil && ci.refused != nil {
		return ci.refused
	}
	if ci == nil || ci.wire == nil || r.ProtoMajor != 1 {
		return nil
	}
	if v := r.Header[wireHeader]; len(v) == 1 && v[0] == ci.wire.nonce {
		return ci.wire.refusal.Load()
	}
	return nil
}

// tlsListener completes TLS handshakes itself, off the accept loop, so
// that HTTP/1.1 connections can be wrapped in a wireConn: net/http hands
// HTTP/2 to its h2 server, and sets Request.TLS, only for a *tls.Conn it
// holds directly. HTTP/2 connections are passed on as *tls.Conn (HTTP/2
// framing has no such ambiguity and net/http checks its header fields).
type tlsListener struct {
	inner     net.Listener
	config    *tls.Config
	timeout   func() time.Duration // for the handshake
	maxHeader func() int

	// plain passes HTTP/1.1 connections as *tls.Conn, for a server that
	// reads their heads itself (http1_engine: rampart).
	plain bool

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	err       error // why accepting stopped; set before done closes
}

func newTLSListener(inner net.Listener, config *tls.Config, timeout func() time.Duration, maxHeader func() int, plain bool) *tlsListener {
	l := &tlsListener{inner: inner, config: config, timeout: timeout, maxHeader: maxHeader, plain: plain,
		conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

// acceptLoop accepts until the listener closes. Each handshake runs in
// its own goroutine and ends within the handshake timeout.
func (l *tlsListener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				l.closeWith(err)
				return
			}
			// As net/http does: a failed accept (out of descriptors) is
			// retried after a pause.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.config)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout())
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		_ = c.Close()
		return
	}
	var out net.Conn = tc
	if st := tc.ConnectionState(); st.NegotiatedProtocol != "h2" && !l.plain {
		out = &tlsWireConn{wireConn: newWireConn(tc, l.maxHeader()), state: st}
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = out.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

func (l *tlsListener) Close() error { return l.closeWith(net.ErrClosed) }

func (l *tlsListener) closeWith(why error) error {
	var err error
	l.closeOnce.Do(func() {
		l.err = why
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

// wireListener wraps each cleartext connection in a wireConn.
type wireListener struct {
	net.Listener
	maxHeader func() int
}

func (l wireListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newWireConn(c, l.maxHeader()), nil
}
