package grpcwire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// PrefixLen is the length of a message's prefix: a flag byte (1: the
// message is compressed) and the message's length, 4 bytes big-endian.
const PrefixLen = 5

// MessageError is a message of a stream the gateway does not pass on.
type MessageError struct {
	Reason string // message_too_large, bad_flag, truncated, bad_text
	Size   uint32 // the declared length, for message_too_large
	Limit  uint32
}

func (e *MessageError) Error() string {
	switch e.Reason {
	case "message_too_large":
		return fmt.Sprintf("a message of %d bytes, over the limit of %d", e.Size, e.Limit)
	case "bad_flag":
		return "a message prefix whose flag byte is neither 0 nor 1"
	case "bad_text":
		return "a gRPC-Web text body that is not base64"
	}
	return "the stream ended inside a message"
}

// Limiter passes a stream of length-prefixed messages through unchanged
// and stops, with a *MessageError, at the prefix of a message longer than
// Max or with a flag other than 0 or 1: no byte of that prefix is passed
// when it arrives in one read. A stream that ends inside a message ends
// with a *MessageError too, so the upstream never takes a cut message
// for a whole one.
type Limiter struct {
	R   io.Reader
	Max uint32
	// Messages counts the prefixes passed.
	Messages int

	prefix [PrefixLen]byte
	got    int    // bytes of the current prefix seen
	left   uint64 // bytes of the current message still to pass
	err    error
}

// Read implements io.Reader.
func (l *Limiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.R.Read(p)
	if m, merr := l.scan(p[:n]); merr != nil {
		l.err = merr
		return m, merr
	}
	if err == io.EOF && (l.got > 0 || l.left > 0) {
		l.err = &MessageError{Reason: "truncated"}
		return n, l.err
	}
	return n, err
}

// scan follows the framing through b; on a refused prefix it returns how
// many bytes before the prefix may pass.
func (l *Limiter) scan(b []byte) (int, error) {
	for i := 0; i < len(b); {
		if l.left > 0 {
			k := min(uint64(len(b)-i), l.left)
			i += int(k)
			l.left -= k
			continue
		}
		start := max(i-l.got, 0)
		k := copy(l.prefix[l.got:], b[i:])
		l.got += k
		i += k
		if l.got < PrefixLen {
			continue
		}
		l.got = 0
		size := binary.BigEndian.Uint32(l.prefix[1:])
		switch {
		case l.prefix[0] > 1:
			return start, &MessageError{Reason: "bad_flag"}
		case size > l.Max:
			return start, &MessageError{Reason: "message_too_large", Size: size, Limit: l.Max}
		}
		l.left = uint64(size)
		l.Messages++
	}
	return len(b), nil
}
