//go:build !unix

package proxy

import (
	"errors"
	"net"
	"os"
	"time"
)

// socketQuiet reports that c holds nothing to read. Without a
// non-blocking read it waits a moment for a byte, as a poll would.
func socketQuiet(c net.Conn) bool {
	var buf [1]byte
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := c.Read(buf[:])
	_ = c.SetReadDeadline(time.Time{})
	return errors.Is(err, os.ErrDeadlineExceeded)
}
