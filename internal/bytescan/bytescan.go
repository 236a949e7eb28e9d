// Package bytescan classifies the bytes of a text 64 at a time into bit
// masks: where its quotes and backslashes are (a JSON string's
// delimiters), its ASCII digits, and the members of a caller's set of
// bytes. On amd64 with AVX2 a block costs a few dozen instructions
// (compares and nibble table lookups, as simdjson's first stage does);
// elsewhere a byte loop gives the same masks. Walking the bits of these
// masks lets a scanner jump from one byte of interest to the next instead
// of looking at every byte.
package bytescan

import "math/bits"

// BlockSize is the number of bytes one Block describes.
const BlockSize = 64

// A Block holds what Scan found in 64 bytes of a text: bit i of each mask
// stands for byte i of the block.
type Block struct {
	Quote     uint64 // '"'
	Backslash uint64 // '\\'
	Digit     uint64 // '0' to '9'
	Member    uint64 // a byte of the Set, or one that shares its nibble classes (see Set)
}

// A Set is a set of bytes that Scan tests every byte against by two table
// lookups, one by each half (nibble) of the byte: a byte is a member when
// the class bits its low nibble maps to and those its high nibble maps to
// share one. Seven classes are available; a set whose rows (the low
// nibbles present for one high nibble) fall into more than seven distinct
// patterns has its extra rows merged into one class, and then Member also
// flags some bytes that are not in the set (never the reverse). Callers
// use Member to skip what holds no member, so a superset is safe.
type Set struct {
	t     tables
	exact bool
}

// tables are the scanning kernel's constants (its assembly reads them by
// offset: keep the order). The nibble tables hold each 16-byte table
// twice, once per 128-bit lane.
type tables struct {
	lo, hi    [32]byte // class bits by low and by high nibble; bit 7 is the digit class
	quote     [32]byte
	backslash [32]byte
	nibble    [32]byte // 0x0f
	classes   [32]byte // 0x7f: the member classes
}

const digitClass = 0x80

// NewSet returns the set of the bytes for which member reports true.
func NewSet(member func(c byte) bool) *Set {
	s := &Set{exact: true}
	var rows [16]uint16 // rows[h]: the low nibbles of members with high nibble h
	for c := 0; c < 256; c++ {
		if member(byte(c)) {
			rows[c>>4] |= 1 << (c & 15)
		}
	}
	var patterns []uint16 // distinct rows, a class each (the eighth and later share the seventh)
	for h, row := range rows {
		if row == 0 {
			continue
		}
		k := 0
		for k < len(patterns) && patterns[k] != row {
			k++
		}
		if k == len(patterns) {
			patterns = append(patterns, row)
		}
		class := byte(1) << min(k, 6)
		if k >= 6 && len(patterns) > 7 {
			s.exact = false
		}
		for l := 0; l < 16; l++ {
			if row&(1<<l) != 0 {
				s.t.lo[l] |= class
			}
		}
		s.t.hi[h] |= class
	}
	for l := 0; l < 10; l++ {
		s.t.lo['0'&15+l] |= digitClass
	}
	s.t.hi['0'>>4] |= digitClass
	copy(s.t.lo[16:], s.t.lo[:16])
	copy(s.t.hi[16:], s.t.hi[:16])
	for i := range 32 {
		s.t.quote[i], s.t.backslash[i], s.t.nibble[i], s.t.classes[i] = '"', '\\', 0x0f, 0x7f
	}
	return s
}

// Exact reports whether Member flags the set's bytes and no others.
func (s *Set) Exact() bool { return s.exact }

// Has reports whether Scan flags c as a member.
func (s *Set) Has(c byte) bool { return s.t.lo[c&15]&s.t.hi[c>>4]&^digitClass != 0 }

// Scan fills dst with the blocks of src: dst[k] describes
// src[k*64:(k+1)*64], and the bits of a last, shorter block past the end
// of src are zero. dst must hold (len(src)+63)/64 blocks.
func (s *Set) Scan(dst []Block, src []byte) {
	full := len(src) &^ (BlockSize - 1)
	if len(dst) < (len(src)+BlockSize-1)/BlockSize {
		panic("bytescan: dst holds too few blocks")
	}
	if full > 0 {
		scanBlocks(&s.t, src[:full], dst)
	}
	if tail := len(src) - full; tail > 0 {
		var buf [BlockSize]byte
		copy(buf[:], src[full:])
		last := &dst[full/BlockSize]
		scanBlocks(&s.t, buf[:], dst[full/BlockSize:full/BlockSize+1])
		keep := uint64(1)<<tail - 1
		last.Quote &= keep
		last.Backslash &= keep
		last.Digit &= keep
		last.Member &= keep
	}
}

// scanGeneric is the kernel in Go: len(src) is a multiple of 64.
func scanGeneric(t *tables, src []byte, dst []Block) {
	for k := range len(src) / BlockSize {
		var b Block
		for i, c := range src[k*BlockSize : (k+1)*BlockSize] {
			bit := uint64(1) << i
			cl := t.lo[c&15] & t.hi[c>>4]
			if c == '"' {
				b.Quote |= bit
			}
			if c == '\\' {
				b.Backslash |= bit
			}
			if cl&digitClass != 0 {
				b.Digit |= bit
			}
			if cl&^digitClass != 0 {
				b.Member |= bit
			}
		}
		dst[k] = b
	}
}

// Below returns the bits of m below bit i (i in 0..64).
func Below(m uint64, i int) uint64 { return m & (uint64(1)<<uint(i) - 1) }

// From returns the bits of m at bit i and above (i in 0..64).
func From(m uint64, i int) uint64 { return m &^ (uint64(1)<<uint(i) - 1) }

// Highest is the index of m's highest bit, or -1 when m is zero.
func Highest(m uint64) int { return 63 - bits.LeadingZeros64(m) }

// InsideQuotes returns the bits of a block that lie inside quoted strings
// (each opening quote included, each closing quote not), given the block's
// quotes and whether the block starts inside a string; and whether it
// ends inside one. No quote is taken as escaped.
func InsideQuotes(quote uint64, inside bool) (uint64, bool) {
	x := quote
	x ^= x << 1
	x ^= x << 2
	x ^= x << 4
	x ^= x << 8
	x ^= x << 16
	x ^= x << 32
	if inside {
		x = ^x
	}
	return x, x>>63 != 0
}
