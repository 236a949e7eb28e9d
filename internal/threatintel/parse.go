package threatintel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strings"

	"github.com/rampart-gw/rampart/internal/problem"
)

// The formats a feed may be in.
const (
	// FormatPlain is one address, CIDR range or first-last range per
	// line; blank lines and lines starting with # or ; are comments,
	// and anything after the entry (whitespace, then a comment or a
	// score, as ipsum and similar lists add) is ignored.
	FormatPlain = "plain"
	// FormatNetset is a FireHOL .netset or .ipset file: plain, with #
	// comments.
	FormatNetset = "netset"
	// FormatSpamhausDROP is Spamhaus DROP/EDROP, in the text format
	// ("1.10.16.0/20 ; SBL256894") or the JSON-lines one
	// ({"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}, with
	// a closing {"type":"metadata",...} record).
	FormatSpamhausDROP = "spamhaus_drop"
	// FormatJA4 is one JA4 TLS fingerprint per line, # comments.
	FormatJA4 = "ja4"
)

// Formats lists the formats, for docs and validation.
var Formats = []string{FormatPlain, FormatNetset, FormatSpamhausDROP, FormatJA4}

// maxLine bounds one line of a feed.
const maxLine = 4096

var ja4RE = regexp.MustCompile(`^[tqd][0-9a-z]{2}[di][0-9]{4}[0-9a-zA-Z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$`)

// ErrTooManyEntries is returned for a feed over its entry limit.
var ErrTooManyEntries = errors.New("too many entries")

// Parse reads a feed in format. Every line must be an entry or a
// comment: a feed with a line it cannot read is refused whole (a
// corrupted or truncated download must not apply half a list), as is
// one listing more than maxEntries entries or a range of every address.
func Parse(r io.Reader, format string, maxEntries int) (*Set, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	text := string(raw) // one copy; entries are read as substrings of it
	var b builder
	for line := 1; text != ""; line++ {
		var l string
		l, text, _ = strings.Cut(text, "\n")
		if len(l) > maxLine {
			return nil, fmt.Errorf("line %d: longer than %d bytes", line, maxLine)
		}
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == ';' {
			continue
		}
		if err := b.addLine(l, format); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if maxEntries > 0 && b.n > maxEntries {
			return nil, fmt.Errorf("line %d: %w: the feed lists more than %d (max_entries)", line, ErrTooManyEntries, maxEntries)
		}
	}
	return b.build(), nil
}

func (b *builder) addLine(text, format string) error {
	if format == FormatSpamhausDROP && text[0] == '{' {
		var rec struct {
			CIDR string `json:"cidr"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(text), &rec); err != nil {
			return fmt.Errorf("not a DROP record: %v", err)
		}
		if rec.Type == "metadata" {
			return nil
		}
		if rec.CIDR == "" {
			return errors.New(`a DROP record without "cidr"`)
		}
		return b.addEntry(rec.CIDR)
	}
	entry := text
	if i := strings.IndexAny(entry, " \t;#"); i >= 0 {
		entry = entry[:i]
	}
	if format == FormatJA4 {
		if !ja4RE.MatchString(entry) {
			return fmt.Errorf("%q is not a JA4 fingerprint such as t13d1516h2_8daaf6152771_02713d6af862", problem.Clip(entry, 64))
		}
		b.addJA4(strings.Clone(entry)) // not a view into the whole feed
		return nil
	}
	return b.addEntry(entry)
}

// addEntry adds an address, a CIDR range or a first-last range.
func (b *builder) addEntry(s string) error {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR range", problem.Clip(s, 64))
		}
		if p.Bits() == 0 || (p.Masked().Addr().Is4In6() && p.Bits() == 96) {
			return fmt.Errorf("%s lists every address: a feed with it would refuse everyone", s)
		}
		b.addPrefix(p)
		return nil
	}
	if first, last, ok := strings.Cut(s, "-"); ok {
		lo, err1 := netip.ParseAddr(first)
		hi, err2 := netip.ParseAddr(last)
		if err1 != nil || err2 != nil || lo.Unmap().Is4() != hi.Unmap().Is4() || hi.Unmap().Less(lo.Unmap()) {
			return fmt.Errorf("%q is not a range first-last of one address family, first not after last", problem.Clip(s, 64))
		}
		if lo.Unmap() == netip.IPv4Unspecified() && hi.Unmap() == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return fmt.Errorf("%s lists every address: a feed with it would refuse everyone", s)
		}
		b.addRange(lo, hi)
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("%q is not an address, a CIDR range or a range first-last", problem.Clip(s, 64))
	}
	b.addPrefix(netip.PrefixFrom(a, a.BitLen()))
	return nil
}
