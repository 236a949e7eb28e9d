package fieldpath

import (
	"math/bits"

	"github.com/rampart-gw/rampart/internal/bytescan"
)

// maskBlocks is the light pass over bytescan's bit masks: it looks only
// at the strings that hold a byte of e.MaskBytes or e.MaskDigits digits,
// and at the gaps between strings that hold 12 digits in a row, jumping
// from one to the next with bit arithmetic. At the first backslash it
// hands over to maskAll (byte by byte, escapes being rare and needing the
// bytes) from the start of the string or gap that holds it; everything
// before is done.
// The result is maskAll's on the whole document, which tests check.
func (w *rewriter) maskBlocks() {
	const window = 32 // blocks scanned at a time (2 KiB of text), on the stack
	var blk [window]bytescan.Block
	in := w.in
	lastQuote := -1 // the last quote in the blocks walked so far
	inside := false // whether the block walked next starts inside a string
	// a string holding a byte to mask for or a digit, or a gap holding a
	// long number, whose closing quote is still ahead; what the string
	// holds so far
	openStr, openGap := -1, -1
	strMember, strDigits := false, 0
	minDigits := w.e.MaskDigits
	var prevNum uint64 // the last block's digits outside strings
	for base := 0; base < len(in); base += window * bytescan.BlockSize {
		chunk := in[base:min(len(in), base+window*bytescan.BlockSize)]
		n := (len(chunk) + bytescan.BlockSize - 1) / bytescan.BlockSize
		w.e.MaskBytes.Scan(blk[:n], chunk)
		for k := range blk[:n] {
			b := &blk[k]
			at := base + k*bytescan.BlockSize
			if b.Backslash != 0 {
				w.pos = lastQuote + 1 // the gap's start
				if inside {
					w.pos = lastQuote // the string's opening quote
				}
				w.maskAll()
				return
			}
			x, endsInside := bytescan.InsideQuotes(b.Quote, inside)
			content := x &^ b.Quote // the strings' bytes, quotes left out
			member, digits := b.Member&content, b.Digit&content
			tentative := member // the bytes that may make a string worth masking
			if minDigits > 0 {
				tentative |= digits
			}
			var long uint64 // ends of runs of 12 digits outside strings
			if w.e.MaskNumbers {
				num := b.Digit &^ x
				if bits.OnesCount64(num)+bits.OnesCount64(prevNum>>53) >= 12 {
					long = num
					for s := 1; s < 12; s++ {
						long &= num<<s | prevNum>>(64-s)
					}
				}
				prevNum = num
			}
			for pos := 0; ; {
				if openStr >= 0 {
					q := bytescan.From(b.Quote, pos)
					span := bytescan.From(^uint64(0), pos)
					if q != 0 {
						span = bytescan.Below(span, bits.TrailingZeros64(q))
					}
					strMember = strMember || member&span != 0
					strDigits += bits.OnesCount64(digits & span)
					if q == 0 {
						break // it ends in a later block
					}
					j := bits.TrailingZeros64(q)
					if strMember || minDigits > 0 && strDigits >= minDigits {
						w.candidate(openStr, at+j)
					}
					openStr, pos = -1, j+1
					continue
				}
				if openGap >= 0 {
					q := bytescan.From(b.Quote, pos)
					if q == 0 {
						break
					}
					j := bits.TrailingZeros64(q)
					w.maskNumbersIn(openGap, at+j)
					openGap, pos = -1, j+1
					continue
				}
				ev := bytescan.From(tentative|long, pos)
				if ev == 0 {
					break
				}
				i := bits.TrailingZeros64(ev)
				open := lastQuote
				if q := bytescan.Below(b.Quote, i); q != 0 {
					open = at + bytescan.Highest(q)
				}
				if tentative&(1<<i) != 0 {
					openStr, strMember, strDigits, pos = open, false, 0, i // counted from i on
				} else {
					openGap, pos = open+1, i+1
				}
			}
			if b.Quote != 0 {
				lastQuote = at + bytescan.Highest(b.Quote)
			}
			inside = endsInside
		}
	}
	w.pos = len(in)
	switch {
	case openStr >= 0: // unterminated: masked to the end as text
		if w.e.MaskString(in[openStr+1:]) {
			w.changed = true
		}
	case openGap >= 0:
		w.maskNumbersIn(openGap, len(in))
	}
}

// candidate finishes the string in[open:close+1], which holds a byte to
// mask for: a member name is left alone, a value is masked.
func (w *rewriter) candidate(open, close int) {
	w.pos = close + 1
	if !w.nameEnds() {
		w.maskString(open, false)
	}
}
