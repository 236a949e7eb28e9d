package bytescan

// IsControl says whether c is a control byte that may not appear in an
// HTTP field value or request line: below 0x20 other than HTAB, or DEL.
func IsControl(c byte) bool { return (c < 0x20 && c != '\t') || c == 0x7f }

// HasControl says whether s holds a control byte (IsControl). It reads
// eight bytes at a time and tests them together with a word's arithmetic;
// only a word that holds an HTAB or a control byte is looked at byte by
// byte. A header value costs a few nanoseconds instead of a byte loop.
func HasControl[T ~string | ~[]byte](s T) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
		del   = 0x7f7f7f7f7f7f7f7f
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// The high bit of a byte is set in (x - 0x20) &^ x when the byte
		// is below 0x20, and in (y - 1) &^ y, y = x ^ 0x7f.., when it is
		// 0x7f; a borrow can only mark bytes above a marked one, so a
		// clean word is never marked.
		y := x ^ del
		if ((x-0x20*ones)&^x|(y-ones)&^y)&highs != 0 && controlIn(s[i:i+8]) {
			return true
		}
	}
	return controlIn(s[i:])
}

func controlIn[T ~string | ~[]byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if IsControl(s[i]) {
			return true
		}
	}
	return false
}
