package bytescan

import (
	"encoding/binary"
	"unsafe"
)

// IsControl says whether c is a control byte that may not appear in an
// HTTP field value or request line: below 0x20 other than HTAB, or DEL.
func IsControl(c byte) bool { return (c < 0x20 && c != '\t') || c == 0x7f }

// HasControl says whether s holds a control byte (IsControl). It reads
// eight bytes at a time and tests them together with a word's arithmetic;
// only a word that holds an HTAB or a control byte is looked at byte by
// byte. A header value costs a few nanoseconds instead of a byte loop.
// (A type named over string or []byte takes the byte loop.)
func HasControl[T ~string | ~[]byte](s T) bool {
	// One 8-byte load per word needs a []byte: the generic indexing
	// below would load byte by byte. The view is read, never written.
	var b []byte
	switch v := any(s).(type) {
	case string:
		b = unsafe.Slice(unsafe.StringData(v), len(v))
	case []byte:
		b = v
	default:
		return controlIn(s)
	}
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		del   = 0x7f7f7f7f7f7f7f7f
	)
	// The high bit of a byte is set in (x - 0x20) &^ x when the byte is
	// below 0x20, and in (y - 1) &^ y, y = x ^ 0x7f.., when it is 0x7f; a
	// borrow can only mark bytes above a marked one, so a clean word is
	// never marked. Two words a round halve the branches.
	marked := func(x uint64) uint64 {
		y := x ^ del
		return ((x-0x20*ones)&^x | (y-ones)&^y) & highs
	}
	for len(b) >= 16 {
		if marked(binary.LittleEndian.Uint64(b))|marked(binary.LittleEndian.Uint64(b[8:])) != 0 && controlIn(b[:16]) {
			return true
		}
		b = b[16:]
	}
	if len(b) >= 8 {
		if marked(binary.LittleEndian.Uint64(b)) != 0 && controlIn(b[:8]) {
			return true
		}
		b = b[8:]
	}
	return controlIn(b)
}

func controlIn[T ~string | ~[]byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if IsControl(s[i]) {
			return true
		}
	}
	return false
}
