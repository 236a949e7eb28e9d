package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"slices"
	"time"
)

// TLS upstreams on the synchronous client. The client dials, shakes hands
// (offering HTTP/2 only where the upstream's protocol leaves the choice to
// the target) and speaks HTTP/1.1 through the same codec as over cleartext.
// An upstream that picks HTTP/2 is remembered and served by net/http's
// Transport, whose HTTP/2 client frames every message by its own length.
//
// The quiet check of a reused connection must see through crypto/tls, which
// keeps bytes of its own in two places: records read from the socket but
// not yet decrypted, and plaintext decrypted but not yet taken. recordConn
// keeps the first empty (crypto/tls is never handed a byte past the end
// of the record it reads, so what arrived after a response stays in
// recordConn's buffer or in the socket, both visible); a read with its
// deadline already past takes whatever the second holds without waiting.

// errChoseH2 says the upstream picked HTTP/2 by ALPN: the request was not
// written, and goes to net/http's Transport.
var errChoseH2 = errors.New("the upstream chose HTTP/2")

// tlsRecordHeaderLen is a TLS record header's length: type, version and
// the length of the record's payload (RFC 8446, section 5.1).
const tlsRecordHeaderLen = 5

// recordConn is the socket under a tls.Conn. It reads ahead as a buffered
// reader does, but hands out no byte past the end of the current record.
type recordConn struct {
	net.Conn
	buf  []byte
	r, w int // buf[r:w] is read from the socket, not yet handed out
	left int // bytes of the current record not yet handed out; 0 at a record's end
}

func newRecordConn(c net.Conn) *recordConn {
	// A record is at most 2^14 bytes of plaintext plus 256 of expansion
	// (RFC 8446, section 5.2) and its header: one fill can hold one.
	return &recordConn{Conn: c, buf: make([]byte, 16<<10+256+tlsRecordHeaderLen)}
}

func (c *recordConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.left == 0 {
		// At a record boundary: its header says where the record ends.
		for c.w-c.r < tlsRecordHeaderLen {
			if err := c.fill(); err != nil {
				return 0, err
			}
		}
		c.left = tlsRecordHeaderLen + (int(c.buf[c.r+3])<<8 | int(c.buf[c.r+4]))
	}
	if c.r == c.w {
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p[:min(len(p), c.left)], c.buf[c.r:c.w])
	c.r += n
	c.left -= n
	return n, nil
}

// fill reads once from the socket after what the buffer holds (at most a
// partial record header, which moves to the front).
func (c *recordConn) fill() error {
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	n, err := c.Conn.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	return err
}

// atBoundary reports that everything read from the socket was handed to
// crypto/tls, up to the end of a record.
func (c *recordConn) atBoundary() bool { return c.left == 0 && c.r == c.w }

// expired is a deadline long past: a read with it takes only what is
// already buffered.
var expired = time.Unix(1, 0)

// tlsQuiet reports that the TLS layer of an idle connection holds nothing:
// no byte in recordConn (so none in crypto/tls's record buffer either),
// and no plaintext left in crypto/tls. The read that looks for plaintext
// has its deadline past: it takes what crypto/tls holds decrypted, and
// fails at once, without a system call, when it holds nothing (a timeout
// does not break a tls.Conn). Bytes in the socket are the quiet check's.
func (pc *h1Conn) tlsQuiet() bool {
	if !pc.records.atBoundary() {
		return false
	}
	_ = pc.SetReadDeadline(expired)
	n, err := pc.Conn.Read(pc.probe[:])
	_ = pc.SetReadDeadline(time.Time{})
	return n == 0 && errors.Is(err, os.ErrDeadlineExceeded)
}

// dialTLS dials addr and shakes hands, within the connect timeout; the
// server name is the target's host unless the config names one. With
// h1only it offers HTTP/1.1 alone.
func (t *h1Transport) dialTLS(ctx context.Context, addr string, h1only bool) (*h1Conn, error) {
	learn := !h1only && slices.Contains(t.tls.NextProtos, "h2")
	if learn {
		probed, err := t.awaitProbe(ctx, addr)
		if err != nil {
			return nil, err
		}
		if probed != nil {
			defer probed()
		}
	}
	raw, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := t.tls.Clone()
	if h1only {
		cfg.NextProtos = []string{"http/1.1"}
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	records := newRecordConn(raw)
	tc := tls.Client(records, cfg)
	hctx := ctx
	if t.handshakeTimeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, t.handshakeTimeout)
		defer cancel()
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, err
	}
	h2 := tc.ConnectionState().NegotiatedProtocol == "h2"
	if learn {
		t.setH2(addr, h2)
	}
	if h2 {
		tc.Close()
		return nil, errChoseH2
	}
	pc := newH1Conn(tc, raw, t.maxHeader)
	pc.records = records
	return pc, nil
}

// awaitProbe lets one dial at a time learn what a TLS target picks: the
// first to come (done is then non-nil, and ends the probe) dials; those
// that come while it does wait for it, and then get errChoseH2 or dial
// on (all at once: a probe that failed is not queued behind). Without
// it, the first requests to a target that picks HTTP/2 would each make
// a handshake only to close it.
func (t *h1Transport) awaitProbe(ctx context.Context, addr string) (done func(), err error) {
	t.mu.Lock()
	if _, known := t.alpn[addr]; known {
		h2 := t.alpn[addr] == "h2"
		t.mu.Unlock()
		if h2 {
			return nil, errChoseH2
		}
		return nil, nil
	}
	ch, busy := t.probing[addr]
	if !busy {
		ch = make(chan struct{})
		t.probing[addr] = ch
		t.mu.Unlock()
		return func() {
			t.mu.Lock()
			delete(t.probing, addr)
			t.mu.Unlock()
			close(ch)
		}, nil
	}
	t.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if t.speaksH2(addr) {
		return nil, errChoseH2
	}
	return nil, nil
}

// speaksH2 reports that addr picked HTTP/2 when last dialed.
func (t *h1Transport) speaksH2(addr string) bool {
	if t.tls == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.alpn[addr] == "h2"
}

// setH2 records what addr picked when dialed.
func (t *h1Transport) setH2(addr string, h2 bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h2 {
		t.alpn[addr] = "h2"
	} else {
		t.alpn[addr] = "http/1.1"
	}
}

// forgetH2 makes the next dial to addr learn what it picks.
func (t *h1Transport) forgetH2(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.alpn, addr)
}
