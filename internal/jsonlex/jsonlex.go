// Package jsonlex reads the tokens of JSON (RFC 8259) that every JSON
// reader in Rampart shares: white space, strings and their escapes,
// numbers and literals, and the decoding of a string's escapes. It
// accepts exactly what encoding/json accepts and decodes as it does, so
// the body guard that checks a client's request (bodyguard) and the
// rewriter that edits an upstream's response (fieldpath) read a document
// alike; fuzz tests hold it to encoding/json.
package jsonlex

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// An Error is where a token breaks the grammar, and what was expected
// there.
type Error struct {
	Offset int    // the byte at fault; the input's length when it ended early
	Want   string // what was expected, as "a digit after '.'"
}

func (e *Error) Error() string { return fmt.Sprintf("at byte %d: expected %s", e.Offset, e.Want) }

// Space returns the index of the first byte at or after i that is not
// JSON white space (space, tab, LF, CR).
func Space(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// String reads the string whose opening quote is b[i]: it returns the
// index past its closing quote, and whether it holds escapes. Escapes
// must be valid and control characters escaped.
func String(b []byte, i int) (end int, escaped bool, err *Error) {
	i++
	for {
		i += stop(b[i:])
		if i == len(b) {
			return 0, false, &Error{len(b), "the closing quote of a string"}
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c < 0x20:
			return 0, false, &Error{i, "no control character in a string (escape it)"}
		}
		// b[i] is a backslash
		escaped = true
		if i+1 >= len(b) {
			return 0, false, &Error{i, "an escape"}
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) || !IsHex4(b[i+2:i+6]) {
				return 0, false, &Error{i + 2, `four hex digits after \u`}
			}
			i += 6
		default:
			return 0, false, &Error{i + 1, "a valid escape"}
		}
	}
}

// stop returns the index of the first byte of s that ends a run of a
// string's plain bytes (a quote, a backslash or a control byte), or
// len(s). It tests eight bytes at a time: a byte below 0x20, or one that
// XORs to zero with '"' or '\\', borrows out of a byte whose top bit
// was clear, and the lowest byte so marked is the first that stops.
func stop(s []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q, bs := x^('"'*ones), x^('\\'*ones)
		if t := ((x-0x20*ones)&^x | (q-ones)&^q | (bs-ones)&^bs) & highs; t != 0 {
			return i + bits.TrailingZeros64(t)/8
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return len(s)
}

// Number reads the number that starts at b[i] (with '-' or a digit):
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. It returns the index
// past it, how many digits its integer part has, and whether it is an
// integer (no fraction, no exponent).
func Number(b []byte, i int) (end, intDigits int, integer bool, err *Error) {
	if b[i] == '-' {
		i++
	}
	start := i
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, 0, false, &Error{i, "a digit"}
	}
	intDigits, integer = i-start, true
	if i < len(b) && b[i] == '.' {
		integer = false
		d := i + 1
		if i = digits(b, d); i == d {
			return 0, 0, false, &Error{i, "a digit after '.'"}
		}
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		if i = digits(b, d); i == d {
			return 0, 0, false, &Error{i, "a digit in the exponent"}
		}
	}
	return i, intDigits, integer, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// Literal reads word (true, false or null) at b[i] and returns the index
// past it.
func Literal(b []byte, i int, word string) (end int, err *Error) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return 0, &Error{i, word}
	}
	return i + len(word), nil
}

// IsHex4 says whether b is four hex digits.
func IsHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f') {
			return false
		}
	}
	return len(b) == 4
}

// Unescape appends the text of a string's content raw (the bytes between
// its quotes) to dst, its escapes decoded as encoding/json decodes them:
// a surrogate pair is one character, a surrogate not in a valid pair is
// U+FFFD. An escape String would refuse (content that only a reader not
// checking escapes hands over) is copied as it is.
func Unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		if i+1 >= len(raw) {
			return append(dst, c)
		}
		i++
		switch raw[i] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case '"', '\\', '/':
			dst = append(dst, raw[i])
		case 'u':
			r, ok := u4(raw[i-1:])
			if !ok {
				dst = append(dst, '\\', 'u')
				continue
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := u4(raw[i+1:]); ok {
					if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
						dst = utf8.AppendRune(dst, p)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
		default:
			dst = append(dst, '\\', raw[i])
		}
	}
	return dst
}

// u4 reads \uXXXX at the start of s.
func u4(s []byte) (rune, bool) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' || !IsHex4(s[2:6]) {
		return 0, false
	}
	var r rune
	for _, c := range s[2:6] {
		if c <= '9' {
			r = r<<4 | rune(c-'0')
		} else {
			r = r<<4 | rune(c|0x20-'a'+10)
		}
	}
	return r, true
}
