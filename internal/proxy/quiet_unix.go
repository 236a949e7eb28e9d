//go:build unix

package proxy

import (
	"errors"
	"net"
	"syscall"
)

// socketQuiet reports, without blocking, that c's socket holds nothing to
// read: a read returns EAGAIN. Data (the upstream sent something unasked)
// or end of file (it closed the connection) means the connection must not
// carry another request. A connection that is not a socket is taken as
// quiet.
func socketQuiet(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var (
		buf  [1]byte
		rerr error
	)
	// A callback that returns true is called once and never waits for
	// the socket to become readable.
	if err := rc.Read(func(fd uintptr) bool {
		_, rerr = syscall.Read(int(fd), buf[:])
		return true
	}); err != nil {
		return false
	}
	return errors.Is(rerr, syscall.EAGAIN)
}
