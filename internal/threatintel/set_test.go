package threatintel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, format, feed string
		entries            int
		in, out            []string
	}{
		{name: "plain", format: FormatPlain, entries: 5,
			feed: "# a comment\n\n203.0.113.7\n198.51.100.0/24 ; scanners\n192.0.2.10-192.0.2.20\n2001:db8::/32\n  10.1.2.3\t7\n",
			in:   []string{"203.0.113.7", "198.51.100.0", "198.51.100.255", "192.0.2.10", "192.0.2.15", "192.0.2.20", "2001:db8::1", "2001:db8:ffff::", "10.1.2.3", "::ffff:203.0.113.7"},
			out:  []string{"203.0.113.6", "203.0.113.8", "198.51.101.0", "192.0.2.9", "192.0.2.21", "2001:db9::", "10.1.2.4", "::1"}},
		{name: "netset", format: FormatNetset, entries: 2,
			feed: "#\n# firehol_level1\n#\n1.0.0.0/24\n5.188.10.0/23\n",
			in:   []string{"1.0.0.1", "5.188.11.255"}, out: []string{"1.0.1.0", "5.188.12.0"}},
		{name: "host bits set, masked", format: FormatPlain, entries: 1, feed: "198.51.100.77/24\n",
			in: []string{"198.51.100.1"}, out: []string{"198.51.101.1"}},
		{name: "mapped entries are IPv4", format: FormatPlain, entries: 2, feed: "::ffff:192.0.2.1\n::ffff:198.51.100.0/120\n",
			in: []string{"192.0.2.1", "198.51.100.200"}, out: []string{"192.0.2.2"}},
		{name: "drop text", format: FormatSpamhausDROP, entries: 2,
			feed: "; Spamhaus DROP List 2026/12/01\n; Last-Modified: Tue, 01 Dec 2026 12:00:00 GMT\n1.10.16.0/20 ; SBL256894\n2.56.192.0/22 ; SBL459831\n",
			in:   []string{"1.10.31.255", "2.56.195.1"}, out: []string{"1.10.32.0"}},
		{name: "drop json", format: FormatSpamhausDROP, entries: 2,
			feed: `{"cidr":"1.10.16.0/20","sblid":"SBL256894","rir":"apnic"}` + "\n" + `{"cidr":"2a06:e480::/29","sblid":"SBL301771","rir":"ripencc"}` + "\n" + `{"type":"metadata","timestamp":1733050000,"size":2,"records":2,"copyright":"(c) 2026 The Spamhaus Project SLU","terms":"https://www.spamhaus.org/drop/terms/"}` + "\n",
			in:   []string{"1.10.16.1", "2a06:e487:ffff::1"}, out: []string{"2a06:e488::"}},
		{name: "overlaps and adjacency merge", format: FormatPlain, entries: 5,
			feed: "10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25\n10.0.3.0-10.0.3.255\n255.255.255.255\n",
			in:   []string{"10.0.0.0", "10.0.1.255", "10.0.3.7", "255.255.255.255"}, out: []string{"10.0.2.0", "10.0.4.0", "255.255.255.254"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(tt.feed), tt.format, 0)
			if err != nil {
				t.Fatal(err)
			}
			if s.Entries() != tt.entries {
				t.Errorf("entries %d, want %d", s.Entries(), tt.entries)
			}
			for _, a := range tt.in {
				if !s.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%s not listed", a)
				}
			}
			for _, a := range tt.out {
				if s.Contains(netip.MustParseAddr(a)) {
					t.Errorf("%s listed", a)
				}
			}
		})
	}
}

func TestParseJA4(t *testing.T) {
	s, err := Parse(strings.NewReader("# scanners\nt13d1516h2_8daaf6152771_d8a2da3f94cd\nt13d190900_9dc949149365_97f8aa674fd9 masscan\n"), FormatJA4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ContainsJA4("t13d1516h2_8daaf6152771_d8a2da3f94cd") || !s.ContainsJA4("t13d190900_9dc949149365_97f8aa674fd9") {
		t.Error("listed fingerprint not found")
	}
	if s.ContainsJA4("t13d1516h1_8daaf6152771_d8a2da3f94cd") || s.ContainsJA4("") || s.Contains(netip.MustParseAddr("1.2.3.4")) {
		t.Error("unlisted fingerprint or address found")
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct{ name, format, feed, want string }{
		{"not an address", FormatPlain, "1.2.3.4\nexample.com\n", "line 2: \"example.com\" is not an address"},
		{"bad cidr", FormatPlain, "1.2.3.4/33\n", "line 1: \"1.2.3.4/33\" is not a CIDR range"},
		{"every IPv4 address", FormatPlain, "0.0.0.0/0\n", "lists every address"},
		{"every IPv6 address", FormatNetset, "::/0\n", "lists every address"},
		{"every address as a range", FormatPlain, "0.0.0.0-255.255.255.255\n", "lists every address"},
		{"every mapped address", FormatPlain, "::ffff:0.0.0.0/96\n", "lists every address"},
		{"mixed range", FormatPlain, "1.2.3.4-2001:db8::1\n", "not a range"},
		{"reversed range", FormatPlain, "1.2.3.9-1.2.3.4\n", "not a range"},
		{"zone", FormatPlain, "fe80::1%eth0\n", "is not an address"},
		{"bad json", FormatSpamhausDROP, "{\"cidr\":\n", "line 1: not a DROP record"},
		{"json without cidr", FormatSpamhausDROP, "{\"sblid\":\"SBL1\"}\n", "without \"cidr\""},
		{"not ja4", FormatJA4, "t13d1516h2_8daaf6152771\n", "is not a JA4 fingerprint"},
		{"long line", FormatPlain, strings.Repeat("1", maxLine+1) + "\n", "line 1: longer than 4096 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.feed), tt.format, 0)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
		})
	}
	_, err := Parse(strings.NewReader("1.1.1.1\n2.2.2.2\n3.3.3.3\n"), FormatPlain, 2)
	if !errors.Is(err, ErrTooManyEntries) || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("over max_entries: %v", err)
	}
}

// FuzzSet holds the set's merged, binary-searched ranges to
// netip.Prefix.Contains over the prefixes as listed: every probe is
// listed exactly when one of the prefixes contains it.
func FuzzSet(f *testing.F) {
	f.Add([]byte{10, 0, 0, 0, 8, 10, 0, 1, 0, 24}, []byte{10, 0, 0, 5, 10, 0, 1, 255, 11, 0, 0, 0})
	f.Add([]byte{255, 255, 255, 255, 32, 0, 0, 0, 0, 1}, []byte{255, 255, 255, 255, 0, 0, 0, 0, 127, 255, 255, 255})
	f.Fuzz(func(t *testing.T, entries, probes []byte) {
		var prefixes []netip.Prefix
		var feed strings.Builder
		for len(entries) >= 5 {
			a := netip.AddrFrom4([4]byte(entries[:4]))
			bits := int(entries[4]) % 33
			if entries[4] >= 200 { // now and then an IPv6 prefix, the address spread over the range
				var b [16]byte
				binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(entries[:4])|0x20000000)
				b[15] = entries[3]
				a, bits = netip.AddrFrom16(b), 1+int(entries[4])%128
			}
			if bits == 0 {
				bits = 1
			}
			p := netip.PrefixFrom(a, bits)
			prefixes = append(prefixes, p)
			fmt.Fprintf(&feed, "%s\n", p)
			entries = entries[5:]
		}
		s, err := Parse(strings.NewReader(feed.String()), FormatPlain, 0)
		if err != nil {
			t.Fatalf("%v\n%s", err, feed.String())
		}
		check := func(a netip.Addr) {
			want := false
			for _, p := range prefixes {
				want = want || p.Contains(a)
			}
			if got := s.Contains(a); got != want {
				t.Fatalf("%s: listed %v, want %v\n%s", a, got, want, feed.String())
			}
		}
		for len(probes) >= 4 {
			check(netip.AddrFrom4([4]byte(probes[:4])))
			probes = probes[4:]
		}
		for _, p := range prefixes { // the edges of every range, and just past them
			lo := p.Masked().Addr()
			check(lo)
			check(lo.Prev())
			hi := lastOf(p)
			check(hi)
			check(hi.Next())
		}
	})
}

func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// million is a feed of a million entries: /32s and /24s spread over the
// IPv4 space.
func million() string {
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for i := range 1_000_000 {
		a := netip.AddrFrom4([4]byte{byte(r.IntN(223) + 1), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		if i%4 == 0 {
			fmt.Fprintf(&b, "%s/24\n", a)
		} else {
			fmt.Fprintf(&b, "%s\n", a)
		}
	}
	return b.String()
}

func BenchmarkContainsMillion(b *testing.B) {
	s, err := Parse(strings.NewReader(million()), FormatPlain, 0)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	probes := make([]netip.Addr, 1024)
	for i := range probes {
		probes[i] = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Contains(probes[i%len(probes)])
	}
}

func BenchmarkParseMillion(b *testing.B) {
	feed := million()
	b.ReportAllocs()
	b.SetBytes(int64(len(feed)))
	for b.Loop() {
		if _, err := Parse(strings.NewReader(feed), FormatPlain, 0); err != nil {
			b.Fatal(err)
		}
	}
}
