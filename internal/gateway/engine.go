package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/http1"
)

// listenerServer is what serves a listener: net/http's server, or the
// engine of server.http1_engine: rampart.
type listenerServer interface {
	Shutdown(ctx context.Context) error
	Close() error
}

// engine serves a listener with the gateway's own HTTP/1.1 server
// (http1.Server: each request head read once, with the wire guard's
// rules). HTTP/2 connections (negotiated by ALPN over TLS, or cleartext
// with prior knowledge) are handed to net/http's server, which serves
// them exactly as with http1_engine: stdlib.
type engine struct {
	base *http.Server // serves the HTTP/2 connections handed to it
	h2   *handoff
	h1   *http1.Server

	ctx    context.Context // cancelled by Close: every connection ends
	cancel context.CancelFunc

	l        net.Listener
	mu       sync.Mutex // guards draining against wg.Add
	draining bool
	wg       sync.WaitGroup
}

// newEngine makes the engine of listener l from the settings net/http's
// server would have had (srv), and starts the server of the HTTP/2
// connections it will hand over; serve accepts.
func (g *Gateway) newEngine(srv *http.Server, h http.Handler, l net.Listener) *engine {
	e := &engine{base: srv, l: l, h2: newHandoff(l.Addr())}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.h1 = &http1.Server{Handler: h, MaxHeaderBytes: g.wireMaxHeader(), Log: g.log,
		ReadHeaderTimeout: srv.ReadHeaderTimeout, IdleTimeout: srv.IdleTimeout,
		ConnContext: srv.ConnContext,
		Refused: func(w http.ResponseWriter, r *http.Request, werr *guard.WireError) {
			// answered on the request path, as every refusal is
			refused := &connInfo{refused: werr}
			if ci, _ := r.Context().Value(connInfoKey{}).(*connInfo); ci != nil {
				refused.conn = ci.conn
			}
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), connInfoKey{}, refused)))
		},
		H2: e.serveH2}
	// before any Shutdown can Wait
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		_ = e.base.Serve(e.h2) // returns when Shutdown or Close closes the handoff
	}()
	return e
}

// serve accepts until the listener closes.
func (e *engine) serve() {
	for {
		c, err := e.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // as net/http: out of descriptors, say
			continue
		}
		e.mu.Lock()
		if e.draining {
			e.mu.Unlock()
			_ = c.Close()
			continue
		}
		e.wg.Add(1)
		e.mu.Unlock()
		go func() {
			defer e.wg.Done()
			if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
				e.serveH2(c, nil)
				return
			}
			e.h1.ServeConn(e.ctx, c)
		}()
	}
}

// serveH2 hands an HTTP/2 connection to net/http's server; read holds
// what was already read of it (the preface of a cleartext one, which
// the server reads again).
func (e *engine) serveH2(c net.Conn, read []byte) {
	var rc net.Conn = c
	if len(read) > 0 {
		rc = &replayConn{Conn: c, r: bytes.NewReader(read)}
	}
	if !e.h2.give(rc) {
		_ = c.Close()
	}
}

// handoff is the listener net/http's server accepts the HTTP/2
// connections from.
type handoff struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

// give passes c to the server; false once the handoff is closed.
func (h *handoff) give(c net.Conn) bool {
	select {
	case h.conns <- c:
		return true
	case <-h.done:
		return false
	}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

// replayConn is a connection whose first bytes were already read.
type replayConn struct {
	net.Conn
	r *bytes.Reader
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.r.Len() > 0 {
		return c.r.Read(p)
	}
	return c.Conn.Read(p)
}

// Shutdown stops accepting, closes the connections waiting for a
// request, tells HTTP/2 clients to go (GOAWAY), and waits for the
// requests in flight until ctx ends.
func (e *engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.draining = true
	e.mu.Unlock()
	e.h1.Shutdown()
	_ = e.l.Close()
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	// A connection spared for its first request is closed once it has
	// waited past the grace: look again until the drain ends, as
	// net/http's server does.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				e.h1.CloseIdle()
			case <-stop:
				return
			case <-done:
				return
			}
		}
	}()
	// the HTTP/2 connections: GOAWAY, then wait for their streams
	if err := e.base.Shutdown(ctx); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close ends every connection now.
func (e *engine) Close() error {
	e.mu.Lock()
	e.draining = true
	e.mu.Unlock()
	e.h1.Close()
	e.cancel()
	_ = e.l.Close()
	return e.base.Close()
}
