//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// quietCheck looks, without blocking, for anything waiting in a
// connection's socket: a read that returns EAGAIN means nothing. Data (the
// upstream sent something unasked) or end of file (it closed the
// connection) means the connection must not carry another request. It is
// made once per connection, so a check allocates nothing.
type quietCheck struct {
	rc   syscall.RawConn // nil when the connection is not a socket
	buf  [1]byte
	err  error
	read func(fd uintptr) bool
}

func newQuietCheck(c net.Conn) *quietCheck {
	q := &quietCheck{}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			q.rc = rc
		}
	}
	// The callback returns true: it is called once and never waits for
	// the socket to become readable.
	q.read = func(fd uintptr) bool {
		_, q.err = syscall.Read(int(fd), q.buf[:])
		return true
	}
	return q
}

// quiet reports that the socket holds nothing to read. A connection that
// is not a socket is taken as quiet.
func (q *quietCheck) quiet() bool {
	if q.rc == nil {
		return true
	}
	q.err = nil
	if err := q.rc.Read(q.read); err != nil {
		return false
	}
	return q.err == syscall.EAGAIN
}
