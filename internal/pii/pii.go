// Package pii finds personal data and credentials in text and masks them:
// email addresses, payment cards (Luhn-checked), phone numbers, IBANs
// (mod-97-checked), US social security numbers, IP addresses, JWTs,
// bearer tokens, and operator-defined patterns.
//
// The built-in detectors are hand-written scanners, not regular
// expressions: each skips to the bytes its values must contain ('@', a
// digit, "eyJ") with the runtime's vectorised search, so text with
// nothing to mask costs about a nanosecond a byte. Masking keeps a value's
// shape: each masked character becomes '*', separators and the parts a
// detector keeps (a card's first and last four digits, an email's domain)
// stay, so the result has the same length and is still valid wherever the
// original was (in a JSON string, for one).
package pii

import (
	"bytes"
	"fmt"
	"math/bits"
	"regexp"
	"slices"
)

// MaskChar replaces every masked character.
const MaskChar = '*'

// A Detector finds one kind of value.
type Detector struct {
	name string
	// Built-in detectors are scanners: at looks for a value around s[i]
	// when s[i] is one of starts (a byte every value has at a known
	// place: an email's '@', a card's first digit).
	starts string
	at     func(s []byte, i int) (start, end int, ok bool)
	// Custom detectors are regular expressions, with the literal prefix
	// of their matches, if any, to skip texts without it.
	re     *regexp.Regexp
	prefix []byte
	// mask overwrites the characters of v (one found value) that are not
	// kept with MaskChar.
	mask func(v []byte)
	// What every value holds, for Prefilter: one of the bytes of needs,
	// or at least minDigits digits (either may be unset).
	needs     string
	minDigits int
}

// Name is the detector's name in configs, metrics and events.
func (d *Detector) Name() string { return d.name }

type span struct{ start, end, det int }

// Builtin names the built-in detectors, in documentation order.
var Builtin = []string{"email", "card", "phone", "iban", "us_ssn", "ip", "jwt", "bearer"}

const (
	digitBytes = "0123456789"
	upperBytes = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)

// Lookup returns the built-in detector called name.
func Lookup(name string) (*Detector, bool) {
	d := &Detector{name: name}
	switch name {
	case "email":
		d.starts, d.at, d.mask, d.needs = "@", emailAt, maskEmail, "@"
	case "card":
		d.starts, d.at, d.mask, d.minDigits = "23456", cardAt, keepDigits(4, 4), 13
	case "phone":
		d.starts, d.at, d.mask, d.minDigits = "+("+digitBytes, phoneAt, keepDigits(0, 2), 7
	case "iban":
		d.starts, d.at, d.mask, d.minDigits = upperBytes, ibanAt, maskIBAN, 2 // the check digits
	case "us_ssn":
		d.starts, d.at, d.mask, d.minDigits = digitBytes, ssnAt, keepDigits(0, 4), 9
	case "ip":
		d.starts, d.at, d.mask, d.needs, d.minDigits = ":"+digitBytes, ipAt, maskIP, ":", 4 // IPv6, IPv4
	case "jwt":
		d.starts, d.at, d.mask, d.needs = "e", jwtAt, maskAfterFirst('.'), "J" // of "eyJ"
	case "bearer":
		d.starts, d.at, d.mask, d.needs = "bB", bearerAt, maskAfterFirst(' '), "bB"
	default:
		return nil, false
	}
	return d, true
}

// Custom returns a detector for an operator's pattern (RE2 syntax): each
// match is masked but for its first keepFirst and last keepLast
// characters.
func Custom(name, pattern string, keepFirst, keepLast int) (*Detector, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if re.MatchString("") {
		return nil, fmt.Errorf("pattern %q matches the empty string", pattern)
	}
	if keepFirst < 0 || keepLast < 0 {
		return nil, fmt.Errorf("keep_first and keep_last must not be negative")
	}
	lit, _ := re.LiteralPrefix()
	needs := allBytes
	if lit != "" {
		needs = lit[:1]
	}
	mask := func(v []byte) {
		n := len(v)
		for i := range v {
			if i >= keepFirst && i < n-keepLast {
				v[i] = MaskChar
			}
		}
	}
	return &Detector{name: name, re: re, prefix: []byte(lit), mask: mask, needs: needs}, nil
}

// allBytes holds every byte value: the needs of a pattern with no
// literal prefix.
var allBytes = func() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}()

// MaxSet is the most detectors one Set holds.
const MaxSet = 32

// A Set masks with several detectors at once: one pass over a text runs
// every built-in scanner, each called only at its start bytes, and only
// at the start of a word (no value of theirs begins inside one).
type Set struct {
	ds     []*Detector
	starts [256]uint32 // starts[c]: the built-in detectors (bits) that begin at c
	custom []int       // the custom detectors
}

// NewSet returns a set of the detectors given (at most MaxSet).
func NewSet(ds ...*Detector) *Set {
	s := &Set{ds: ds[:min(len(ds), MaxSet)]}
	for k, d := range s.ds {
		if d.re != nil {
			s.custom = append(s.custom, k)
			continue
		}
		for i := 0; i < len(d.starts); i++ {
			s.starts[d.starts[i]] |= 1 << k
		}
	}
	return s
}

// Names are the detectors' names, in the order Mask counts them.
func (s *Set) Names() []string {
	names := make([]string, len(s.ds))
	for i, d := range s.ds {
		names[i] = d.name
	}
	return names
}

// Prefilter says which texts Mask can find a value in: those holding a
// byte for which needs reports true, or at least digits ASCII digits (0:
// digits alone never make a text one). Mask leaves any other text as it
// is, so a caller may skip handing it over. Each detector says what all
// its values hold: an email address an '@', a card number 13 digits, a
// phone number 7, a JWT the 'J' of "eyJ", a custom pattern the first
// byte of its literal prefix (any byte, if it has none).
func (s *Set) Prefilter() (needs func(c byte) bool, digits int) {
	var set [256]bool
	for _, d := range s.ds {
		for i := 0; i < len(d.needs); i++ {
			set[d.needs[i]] = true
		}
		if d.minDigits > 0 && (digits == 0 || d.minDigits < digits) {
			digits = d.minDigits
		}
	}
	return func(c byte) bool { return set[c] }, digits
}

// Len is the number of detectors.
func (s *Set) Len() int { return len(s.ds) }

// A Masker masks values with a set's detectors and counts them. It keeps
// scratch space between calls: one per goroutine (a response being
// filtered), reused through Reset.
type Masker struct {
	set    *Set
	spans  []span
	counts []int
}

// NewMasker returns a masker over the set's detectors.
func (s *Set) NewMasker() *Masker {
	return &Masker{set: s, counts: make([]int, len(s.ds))}
}

// Reset zeroes the counts.
func (m *Masker) Reset() { clear(m.counts) }

// Counts is how many values each detector masked since Reset, indexed as
// the set's Names.
func (m *Masker) Counts() []int { return m.counts }

// Total is the number of values masked since Reset.
func (m *Masker) Total() int {
	n := 0
	for _, c := range m.counts {
		n += c
	}
	return n
}

// Mask masks every value found in v in place and reports how many it
// masked. Where values overlap the earliest wins, then the longest.
func (m *Masker) Mask(v []byte) int {
	set := m.set
	// Most texts (a city, a status, a name) hold no start byte at all: a
	// tight loop finds that, or where the first one is, before the
	// scanners' loop with its word skipping.
	first := 0
	for first < len(v) && set.starts[v[first]] == 0 {
		first++
	}
	if first == len(v) && len(set.custom) == 0 {
		return 0
	}
	for first > 0 && isWord(v[first-1]) { // the scanners start at word starts
		first--
	}
	spans := m.spans[:0]
	sorted := true
	for i := first; i < len(v); {
		c := v[i]
		next := i + 1
		if isWord(c) {
			next = skipWord(v, i) // a value starts at the start of a word, or at a non-word byte
		}
		for b := set.starts[c]; b != 0; b &= b - 1 {
			k := bits.TrailingZeros32(b)
			start, end, ok := set.ds[k].at(v, i)
			if !ok {
				continue
			}
			if n := len(spans); n > 0 && start < spans[n-1].end {
				sorted = false
			}
			spans = append(spans, span{start: start, end: end, det: k})
			next = max(next, end)
		}
		i = next
	}
	for _, k := range set.custom {
		d := set.ds[k]
		if len(d.prefix) > 0 && !bytes.Contains(v, d.prefix) {
			continue
		}
		for _, loc := range d.re.FindAllIndex(v, -1) {
			spans = append(spans, span{start: loc[0], end: loc[1], det: k})
			sorted = false
		}
	}
	m.spans = spans[:0]
	if len(spans) == 0 {
		return 0
	}
	if !sorted {
		slices.SortFunc(spans, func(a, b span) int {
			if a.start != b.start {
				return a.start - b.start
			}
			return b.end - a.end
		})
	}
	n := 0
	for i, sp := range spans {
		if i > 0 && sp.start < spans[n-1].end {
			continue // overlaps the one kept before it
		}
		spans[n] = sp
		n++
	}
	for _, sp := range spans[:n] {
		set.ds[sp.det].mask(v[sp.start:sp.end])
		m.counts[sp.det]++
	}
	return n
}

// MaskString returns v with every value the set finds masked.
func (s *Set) MaskString(v string) string {
	if s == nil || len(s.ds) == 0 {
		return v
	}
	b := []byte(v)
	if s.NewMasker().Mask(b) == 0 {
		return v
	}
	return string(b)
}
