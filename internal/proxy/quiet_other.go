//go:build !unix

package proxy

import (
	"errors"
	"net"
	"os"
	"time"
)

// quietCheck looks for anything waiting in a connection. Without a
// non-blocking read it waits a moment for a byte, as a poll would.
type quietCheck struct{ c net.Conn }

func newQuietCheck(c net.Conn) *quietCheck { return &quietCheck{c: c} }

func (q *quietCheck) quiet() bool {
	var buf [1]byte
	_ = q.c.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := q.c.Read(buf[:])
	_ = q.c.SetReadDeadline(time.Time{})
	return errors.Is(err, os.ErrDeadlineExceeded)
}
