package fieldpath

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/rampart-gw/rampart/internal/bytescan"
	"github.com/rampart-gw/rampart/internal/jsonlex"
)

// Edits says what Rewrite changes in a document.
type Edits struct {
	// Remove names members and elements to leave out.
	Remove *Set
	// Replace names values handed to ReplaceValue, whose result (valid
	// JSON, appended to dst) takes their place.
	Replace      *Set
	ReplaceValue func(dst, raw []byte) ([]byte, error)
	// MaskString, if set, is given the content of every string value
	// (not member names) left in the document, unescaped; it may
	// overwrite bytes with characters that need no escaping in JSON,
	// keeping the length, and reports whether it did.
	MaskString func(v []byte) bool
	// MaskBytes, if set, says which strings MaskString can change: those
	// holding one of its bytes, or at least MaskDigits ASCII digits (0:
	// digits alone never). Other strings are not handed over, and the
	// light pass skips over them 64 bytes at a time.
	MaskBytes  *bytescan.Set
	MaskDigits int
	// MaskNumbers also hands integers of 12 digits or more (a card
	// number sent as a number) to MaskString; a masked one becomes a
	// string.
	MaskNumbers bool
	// MaxDepth bounds nesting; 0 means 512.
	MaxDepth int

	full bool // tests: the full walk even when only masking
}

// maskOnly reports whether the edits only mask: then Rewrite takes a
// light pass that finds strings and numbers without checking the
// document's structure (masking needs no more; removing does).
func (e *Edits) maskOnly() bool { return !e.full && e.Remove == nil && e.Replace == nil }

// SyntaxError is a document Rewrite could not read.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Rewrite walks the JSON document in once, applying e. String masking
// happens in place, in in itself; removals and replacements are spliced
// into a copy appended to dst. It returns the edited document (in itself
// when nothing was spliced) and whether anything changed. When e removes
// or replaces, a document that is not valid JSON is an error, and nothing
// of it should be sent on: the walk stops where it stopped understanding.
// When e only masks, Rewrite takes a lighter pass that does not check the
// structure: every string that is not a member name is masked, and so is
// every long integer, wherever it is.
func Rewrite(in []byte, e *Edits, dst []byte) (out []byte, changed bool, err error) {
	w := rewriter{in: in, e: e, out: dst, maxDepth: e.MaxDepth}
	if w.maxDepth == 0 {
		w.maxDepth = 512
	}
	if e.maskOnly() {
		switch {
		case e.MaskString != nil && e.MaskBytes != nil:
			w.maskBlocks()
		case e.MaskString != nil:
			w.maskAll()
		}
		return w.result()
	}
	w.ws()
	if err := w.value(e.Remove.Start(), e.Replace.Start(), 0); err != nil {
		return nil, false, err
	}
	w.ws()
	if w.pos != len(in) {
		return nil, false, w.fail("data after the document")
	}
	return w.result()
}

func (w *rewriter) result() ([]byte, bool, error) {
	if !w.spliced {
		return w.in, w.changed, nil
	}
	return append(w.out, w.in[w.copied:]...), true, nil
}

// maskAll is the light pass, from pos: strings are found by their
// quotes, member names by the ':' after them, numbers between strings.
func (w *rewriter) maskAll() {
	in := w.in
	for w.pos < len(in) {
		// a gap between strings is a few bytes; it holds a number long
		// enough to mask (12 digits in a row) rarely, so only then is it
		// looked at again
		q, run, long := w.pos, 0, false
		for q < len(in) && in[q] != '"' {
			if c := in[q]; '0' <= c && c <= '9' {
				run++
				long = long || run >= 12
			} else {
				run = 0
			}
			q++
		}
		if long && w.e.MaskNumbers {
			w.maskNumbersIn(w.pos, q)
		}
		if q >= len(in) {
			return
		}
		start, escaped := q, false
		for q = quoteOrBackslash(in, q+1); q < len(in) && in[q] == '\\'; q = quoteOrBackslash(in, q+2) {
			escaped = true
		}
		if q >= len(in) { // unterminated: mask to the end as text
			w.pos = len(in)
			if w.e.MaskString(in[start+1:]) {
				w.changed = true
			}
			return
		}
		w.pos = q + 1
		if w.nameEnds() {
			continue
		}
		w.maskString(start, escaped)
	}
}

// nameEnds reports whether the string that ends just before pos is a
// member name: the light pass knows one by the ':' after it.
func (w *rewriter) nameEnds() bool {
	j := w.pos
	for j < len(w.in) && (w.in[j] == ' ' || w.in[j] == '\t' || w.in[j] == '\n' || w.in[j] == '\r') {
		j++
	}
	return j < len(w.in) && w.in[j] == ':'
}

// quoteOrBackslash returns the index of the first '"' or '\\' in s at or
// after i, or len(s). It reads eight bytes at a time (SWAR): JSON strings
// are mostly a few words long, too short for a vectorised search to pay
// off, too long for a byte loop to be cheap.
func quoteOrBackslash(s []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q, b := x^(ones*'"'), x^(ones*'\\')
		// a byte of q or b is zero where s has a quote or a backslash;
		// the lowest flagged byte is exact (borrows only run upwards)
		if m := ((q-ones)&^q | (b-ones)&^b) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			return i
		}
	}
	return len(s)
}

// maskNumbersIn masks the long integers among in[from:to] (JSON
// structure between strings).
func (w *rewriter) maskNumbersIn(from, to int) {
	for i := from; i < to; i++ {
		c := w.in[i]
		if c < '0' || c > '9' {
			continue
		}
		end := skipDigits(w.in[:to], i)
		start := i
		if start > from && w.in[start-1] == '-' {
			start-- // the sign of a negative number, not of an exponent (checked next)
		}
		if end-i >= 12 && (start == from || w.in[start-1] != '.' && w.in[start-1]|0x20 != 'e' && w.in[start-1] != '+' && w.in[start-1] != '-') &&
			(end == to || w.in[end] != '.' && w.in[end]|0x20 != 'e') {
			save := w.pos
			w.pos = end
			w.maskNumber(start)
			w.pos = save
		}
		i = end
	}
}

type rewriter struct {
	in       []byte
	pos      int
	e        *Edits
	out      []byte
	copied   int // in[:copied] is accounted for in out
	spliced  bool
	changed  bool
	maxDepth int
	scratch  []byte
	quiet    int // > 0 while reading a value that is left out or replaced: nothing in it is masked
}

func (w *rewriter) fail(msg string) error { return &SyntaxError{Offset: w.pos, Msg: msg} }

// splice replaces in[from:to] with repl in the output.
func (w *rewriter) splice(from, to int, repl []byte) {
	w.out = append(w.out, w.in[w.copied:from]...)
	w.out = append(w.out, repl...)
	w.copied = to
	w.spliced, w.changed = true, true
}

func (w *rewriter) ws() { w.pos = jsonlex.Space(w.in, w.pos) }

// lexError is a token's error as a SyntaxError.
func lexError(e *jsonlex.Error) error {
	return &SyntaxError{Offset: e.Offset, Msg: "expected " + e.Want}
}

// active reports whether anything below a value with these states can
// change.
func (w *rewriter) active(rs, rp State) bool {
	return w.e.MaskString != nil || !rs.Empty() || !rp.Empty()
}

func (w *rewriter) value(rs, rp State, depth int) error {
	if w.pos >= len(w.in) {
		return w.fail("unexpected end")
	}
	switch c := w.in[w.pos]; {
	case c == '{':
		return w.object(rs, rp, depth+1)
	case c == '[':
		return w.array(rs, rp, depth+1)
	case c == '"':
		start := w.pos
		escaped, err := w.str()
		if err != nil || w.e.MaskString == nil || w.quiet > 0 {
			return err
		}
		w.maskString(start, escaped)
		return nil
	case c == '-' || '0' <= c && c <= '9':
		return w.number()
	case c == 't':
		return w.literal("true")
	case c == 'f':
		return w.literal("false")
	case c == 'n':
		return w.literal("null")
	}
	return w.fail(fmt.Sprintf("unexpected %q", w.in[w.pos]))
}

func (w *rewriter) literal(lit string) error {
	end, err := jsonlex.Literal(w.in, w.pos, lit)
	if err != nil {
		return lexError(err)
	}
	w.pos = end
	return nil
}

// container walks the members of an object or the elements of an array,
// from just past its opening bracket: member reads one (name and value)
// and returns the states below it and its name's start.
func (w *rewriter) container(rs, rp State, depth int, closer byte, member func(i int) (State, State, int, error)) error {
	if depth > w.maxDepth {
		return w.fail("nested too deep")
	}
	w.pos++
	w.ws()
	if w.pos < len(w.in) && w.in[w.pos] == closer {
		w.pos++
		return nil
	}
	on := w.active(rs, rp)
	prevEnd, cutFrom := -1, -1 // end of the last value kept; start of leading members left out
	for i := 0; ; i++ {
		w.ws()
		crs, crp, start, err := member(i)
		if err != nil {
			return err
		}
		switch {
		case !on:
			err = w.value(0, 0, depth)
		case w.e.Remove.Matched(crs):
			if err = w.skip(depth); err == nil {
				if prevEnd >= 0 {
					// The comma before it, and it; after a member already
					// left out, from where that one ended.
					w.splice(max(prevEnd, w.copied), w.pos, nil)
				} else if cutFrom < 0 {
					cutFrom = start // it and the comma after it, once known
				}
			}
		default:
			if cutFrom >= 0 {
				w.splice(cutFrom, start, nil)
				cutFrom = -1
			}
			if w.e.Replace.Matched(crp) {
				err = w.replace(depth)
			} else {
				err = w.value(crs, crp, depth)
			}
			prevEnd = w.pos
		}
		if err != nil {
			return err
		}
		w.ws()
		if w.pos >= len(w.in) {
			return w.fail("unexpected end")
		}
		switch w.in[w.pos] {
		case ',':
			w.pos++
			continue
		case closer:
			if cutFrom >= 0 {
				w.splice(cutFrom, w.pos, nil)
			}
			w.pos++
			return nil
		}
		return w.fail(fmt.Sprintf("expected , or %c", closer))
	}
}

func (w *rewriter) object(rs, rp State, depth int) error {
	on := w.active(rs, rp)
	return w.container(rs, rp, depth, '}', func(int) (State, State, int, error) {
		start := w.pos
		if w.pos >= len(w.in) || w.in[w.pos] != '"' {
			return 0, 0, 0, w.fail("expected a member name")
		}
		escaped, err := w.str()
		if err != nil {
			return 0, 0, 0, err
		}
		name := w.in[start+1 : w.pos-1]
		w.ws()
		if w.pos >= len(w.in) || w.in[w.pos] != ':' {
			return 0, 0, 0, w.fail("expected :")
		}
		w.pos++
		w.ws()
		if !on || rs.Empty() && rp.Empty() {
			return 0, 0, start, nil
		}
		if escaped {
			w.scratch = jsonlex.Unescape(w.scratch[:0], name)
			name = w.scratch
		}
		var crs, crp State
		if !rs.Empty() {
			crs = w.e.Remove.Member(rs, name)
		}
		if !rp.Empty() {
			crp = w.e.Replace.Member(rp, name)
		}
		return crs, crp, start, nil
	})
}

func (w *rewriter) array(rs, rp State, depth int) error {
	return w.container(rs, rp, depth, ']', func(i int) (State, State, int, error) {
		var crs, crp State
		if !rs.Empty() {
			crs = w.e.Remove.Element(rs, i)
		}
		if !rp.Empty() {
			crp = w.e.Replace.Element(rp, i)
		}
		return crs, crp, w.pos, nil
	})
}

// skip reads a value, changing nothing in it.
func (w *rewriter) skip(depth int) error {
	w.quiet++
	err := w.value(0, 0, depth)
	w.quiet--
	return err
}

// replace hands the value at pos to ReplaceValue.
func (w *rewriter) replace(depth int) error {
	start := w.pos
	if err := w.skip(depth); err != nil {
		return err
	}
	mark := len(w.out)
	w.out = append(w.out, w.in[w.copied:start]...)
	repl, err := w.e.ReplaceValue(w.out, w.in[start:w.pos])
	if err != nil {
		w.out = w.out[:mark]
		return err
	}
	w.out, w.copied = repl, w.pos
	w.spliced, w.changed = true, true
	return nil
}

// str reads a string from its opening quote; escaped says whether it
// holds escape sequences.
func (w *rewriter) str() (escaped bool, err error) {
	end, escaped, lerr := jsonlex.String(w.in, w.pos)
	if lerr != nil {
		return false, lexError(lerr)
	}
	w.pos = end
	return escaped, nil
}

// maskString masks the string value that spans in[start:pos].
func (w *rewriter) maskString(start int, escaped bool) {
	content := w.in[start+1 : w.pos-1]
	if !escaped {
		if w.e.MaskString(content) {
			w.changed = true
		}
		return
	}
	w.scratch = jsonlex.Unescape(w.scratch[:0], content)
	if !w.e.MaskString(w.scratch) {
		return
	}
	w.out = append(w.out, w.in[w.copied:start]...)
	w.out = appendQuoted(w.out, w.scratch)
	w.copied = w.pos
	w.spliced, w.changed = true, true
}

func (w *rewriter) number() error {
	start := w.pos
	end, intDigits, integer, err := jsonlex.Number(w.in, w.pos)
	if err != nil {
		return lexError(err)
	}
	w.pos = end
	if w.e.MaskNumbers && w.e.MaskString != nil && w.quiet == 0 && integer && intDigits >= 12 {
		w.maskNumber(start)
	}
	return nil
}

// maskNumber masks the integer in[start:pos]; a masked one becomes a
// string.
func (w *rewriter) maskNumber(start int) {
	w.scratch = append(w.scratch[:0], w.in[start:w.pos]...)
	if w.e.MaskString(w.scratch) {
		w.out = append(w.out, w.in[w.copied:start]...)
		w.out = append(w.out, '"')
		w.out = append(w.out, w.scratch...)
		w.out = append(w.out, '"')
		w.copied = w.pos
		w.spliced, w.changed = true, true
	}
}

func skipDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// appendQuoted appends s as a JSON string.
func appendQuoted(dst, s []byte) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
