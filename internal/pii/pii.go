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
	"regexp"
	"slices"
)

// MaskChar replaces every masked character.
const MaskChar = '*'

// A Detector finds one kind of value.
type Detector struct {
	name string
	// find appends the [start, end) spans of the values in s to spans.
	find func(s []byte, spans []span) []span
	// trigger: the bytes (triggers) one of which every value holds.
	trigger uint8
	// mask overwrites the characters of v (one found value) that are not
	// kept with MaskChar.
	mask func(v []byte)
}

// Name is the detector's name in configs, metrics and events.
func (d *Detector) Name() string { return d.name }

type span struct{ start, end, det int }

// Builtin names the built-in detectors, in documentation order.
var Builtin = []string{"email", "card", "phone", "iban", "us_ssn", "ip", "jwt", "bearer"}

// Lookup returns the built-in detector called name.
func Lookup(name string) (*Detector, bool) {
	switch name {
	case "email":
		return &Detector{name: name, trigger: tAt, find: findEmails, mask: maskEmail}, true
	case "card":
		return &Detector{name: name, trigger: tDigit, find: findCards, mask: keepDigits(4, 4)}, true
	case "phone":
		return &Detector{name: name, trigger: tDigit, find: findPhones, mask: keepDigits(0, 2)}, true
	case "iban":
		return &Detector{name: name, trigger: tDigit, find: findIBANs, mask: maskIBAN}, true
	case "us_ssn":
		return &Detector{name: name, trigger: tDigit, find: findSSNs, mask: keepDigits(0, 4)}, true
	case "ip":
		return &Detector{name: name, trigger: tDigit | tColon, find: findIPs, mask: maskIP}, true
	case "jwt":
		return &Detector{name: name, trigger: tLetter, find: findJWTs, mask: maskAfterFirst('.')}, true
	case "bearer":
		return &Detector{name: name, trigger: tLetter, find: findBearers, mask: maskAfterFirst(' ')}, true
	}
	return nil, false
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
	prefix := []byte(lit)
	find := func(s []byte, spans []span) []span {
		if len(prefix) > 0 && !bytes.Contains(s, prefix) {
			return spans
		}
		for _, m := range re.FindAllIndex(s, -1) {
			spans = append(spans, span{start: m[0], end: m[1]})
		}
		return spans
	}
	mask := func(v []byte) {
		n := len(v)
		for i := range v {
			if i >= keepFirst && i < n-keepLast {
				v[i] = MaskChar
			}
		}
	}
	return &Detector{name: name, trigger: tLetter, find: find, mask: mask}, nil
}

// A Set masks with several detectors at once.
type Set struct {
	ds []*Detector
}

// NewSet returns a set of the detectors given.
func NewSet(ds ...*Detector) *Set { return &Set{ds: ds} }

// Names are the detectors' names, in the order Mask counts them.
func (s *Set) Names() []string {
	names := make([]string, len(s.ds))
	for i, d := range s.ds {
		names[i] = d.name
	}
	return names
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
	spans := m.spans[:0]
	present := triggers(v)
	for i, d := range m.set.ds {
		if d.trigger&present == 0 {
			continue
		}
		n := len(spans)
		spans = d.find(v, spans)
		for j := n; j < len(spans); j++ {
			spans[j].det = i
		}
	}
	m.spans = spans[:0]
	if len(spans) == 0 {
		return 0
	}
	if len(spans) > 1 {
		slices.SortFunc(spans, func(a, b span) int {
			if a.start != b.start {
				return a.start - b.start
			}
			return b.end - a.end
		})
		kept := spans[:1]
		for _, sp := range spans[1:] {
			if sp.start >= kept[len(kept)-1].end {
				kept = append(kept, sp)
			}
		}
		spans = kept
	}
	for _, sp := range spans {
		m.set.ds[sp.det].mask(v[sp.start:sp.end])
		m.counts[sp.det]++
	}
	return len(spans)
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
