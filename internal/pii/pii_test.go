package pii

import (
	"slices"
	"strings"
	"testing"
)

func set(t testing.TB, names ...string) *Set {
	t.Helper()
	var ds []*Detector
	for _, n := range names {
		d, ok := Lookup(n)
		if !ok {
			t.Fatalf("no detector %s", n)
		}
		ds = append(ds, d)
	}
	return NewSet(ds...)
}

// TestDetectors: each detector masks what it should, keeps what it says
// it keeps, and leaves look-alikes alone.
func TestDetectors(t *testing.T) {
	for _, tc := range []struct{ detector, in, want string }{
		{"email", "jane.doe@example.com", "j*******@example.com"},
		{"email", "write to Jane <jane+news@mail.example.co.uk>.", "write to Jane <j********@mail.example.co.uk>."},
		{"email", "a@b.io", "a@b.io"}, // one character: nothing to hide but the domain
		{"email", "user@localhost", "user@localhost"},
		{"email", "@handle and x@y", "@handle and x@y"},
		{"email", "v1.2@3.4", "v1.2@3.4"},
		{"email", "ab@ex-ample.com-", "a*@ex-ample.com-"},

		{"card", "4111111111111111", "4111********1111"},
		{"card", "card 4111 1111 1111 1111, exp 12/29", "card 4111 **** **** 1111, exp 12/29"},
		{"card", "5500-0000-0000-0004", "5500-****-****-0004"},
		{"card", "378282246310005", "3782*******0005"},
		{"card", "4111 1111 1111 1111 2026", "4111 **** **** 1111 2026"},
		{"card", "4111111111111112", "4111111111111112"}, // Luhn fails
		{"card", "1111111111111117", "1111111111111117"}, // no network starts with 1
		{"card", "id4111111111111111", "id4111111111111111"},
		{"card", "41111111111111111111111", "41111111111111111111111"},
		{"card", "order 20261124 qty 3", "order 20261124 qty 3"},

		{"phone", "+44 20 7946 0958", "+** ** **** **58"},
		{"phone", "call +1 (555) 123-4567 now", "call +* (***) ***-**67 now"},
		{"phone", "(555) 123-4567", "(***) ***-**67"},
		{"phone", "555-123-4567", "***-***-**67"},
		{"phone", "020 7946 0958", "*** **** **58"},
		{"phone", "020 7946 0958 12", "*** **** **58 12"},
		{"phone", "2026-11-24 13:06", "2026-11-24 13:06"},
		{"phone", "1700000000", "1700000000"},
		{"phone", "v1.555.123.4567", "v1.555.123.4567"},
		{"phone", "+12", "+12"},
		{"phone", "ref 555-123-45678", "ref 555-123-45678"},

		{"iban", "GB82 WEST 1234 5698 7654 32", "GB** **** **** **** **54 32"},
		{"iban", "DE89370400440532013000", "DE****************3000"},
		{"iban", "GB82WEST12345698765433", "GB82WEST12345698765433"}, // check digits wrong
		{"iban", "XX12", "XX12"},

		{"us_ssn", "SSN 123-45-6789.", "SSN ***-**-6789."},
		{"us_ssn", "078-05-1120", "***-**-1120"},
		{"us_ssn", "666-45-6789 000-12-3456 123-00-4567 123-45-0000 900-12-3456", "666-45-6789 000-12-3456 123-00-4567 123-45-0000 900-12-3456"},
		{"us_ssn", "1123-45-6789", "1123-45-6789"},
		{"us_ssn", "2026-11-2445", "2026-11-2445"},

		{"ip", "from 192.0.2.17 via 10.0.0.1", "from 192.0.*.** via 10.0.*.*"},
		{"ip", "2001:db8:85a3::8a2e:370:7334", "2001:db8:****::****:***:****"},
		{"ip", "[2001:db8::1]:443", "[2001:db8::*]:443"},
		{"ip", "version 1.2.3.4.5", "version 1.2.3.4.5"},
		{"ip", "256.1.1.1 01.2.3.4", "256.1.1.1 01.2.3.4"},
		{"ip", "at 12:30:45", "at 12:30:45"},
		{"ip", "std::vector", "std::vector"},

		{"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl", "eyJhbGciOiJIUzI1NiJ9.*******************.************"},
		{"jwt", "token eyJhbGciOiJub25lIn0.eyJzdWIiOiJqIn0. ok", "token eyJhbGciOiJub25lIn0.***************. ok"},
		{"jwt", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y3Q.dGFn", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..***.***.****"},
		{"jwt", "eyJmb28iOjF9", "eyJmb28iOjF9"},
		{"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2ln=", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2ln="},

		{"bearer", "Authorization: Bearer abcdef0123456789", "Authorization: Bearer ****************"},
		{"bearer", "bearer   tok/en+123==", "bearer   ************"},
		{"bearer", "the bearer of bad news", "the bearer of bad news"},
		{"bearer", "Bearer short", "Bearer short"},
	} {
		t.Run(tc.detector+"/"+tc.in, func(t *testing.T) {
			if got := set(t, tc.detector).MaskString(tc.in); got != tc.want {
				t.Errorf("MaskString(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestAllTogether: overlapping finds go to one detector (the earliest,
// then the longest), and each is counted once.
func TestAllTogether(t *testing.T) {
	s := set(t, Builtin...)
	in := []byte("Jane <jane@example.com>, +44 20 7946 0958, card 4111-1111-1111-1111, Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl from 192.0.2.1")
	m := s.NewMasker()
	if n := m.Mask(in); n != 5 {
		t.Errorf("masked %d values, want 5: %s", n, in)
	}
	want := map[string]int{"email": 1, "card": 1, "phone": 1, "bearer": 1, "ip": 1}
	for i, name := range s.Names() {
		if m.Counts()[i] != want[name] {
			t.Errorf("%s: counted %d, want %d", name, m.Counts()[i], want[name])
		}
	}
	for _, leak := range []string{"jane@", "7946 0958", "1111-1111-1111", "c2lnbmF0dXJl", "192.0.2.1"} {
		if strings.Contains(string(in), leak) {
			t.Errorf("%q left in %s", leak, in)
		}
	}
}

func TestCustom(t *testing.T) {
	d, err := Custom("order_ref", `ORD-[0-9]{8}`, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := NewSet(d).MaskString("see ORD-20261124 and ORD-1"); got != "see ORD-******24 and ORD-1" {
		t.Errorf("got %q", got)
	}
	for _, bad := range []string{`(`, `a*`} {
		if _, err := Custom("x", bad, 0, 0); err == nil {
			t.Errorf("Custom(%q) accepted", bad)
		}
	}
}

// FuzzMask: masking never panics, keeps the length and only ever writes
// MaskChar; and a text that Prefilter turns away is left alone.
// (It need not be idempotent: masking can take away the digits that kept
// a neighbour from looking like a phone number.)
func FuzzMask(f *testing.F) {
	for _, s := range []string{"jane@example.com", "4111 1111 1111 1111", "+44 20 7946 0958", "GB82 WEST 1234 5698 7654 32",
		"123-45-6789", "2001:db8::1 192.0.2.1", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJl", "(555) 123-4567", "020 7946 0958"} {
		f.Add(s)
	}
	all := set(f, Builtin...)
	withCustom := set(f, "email", "card", "phone")
	custom, err := Custom("order", `ord_[0-9]+`, 4, 0)
	if err != nil {
		f.Fatal(err)
	}
	withCustom = NewSet(append(withCustom.ds, custom)...)
	f.Fuzz(func(t *testing.T, in string) {
		digits := 0
		for i := range len(in) {
			if '0' <= in[i] && in[i] <= '9' {
				digits++
			}
		}
		for _, s := range []*Set{withCustom, all} {
			needs, atLeast := s.Prefilter()
			if !slices.ContainsFunc([]byte(in), needs) && (atLeast == 0 || digits < atLeast) && s.NewMasker().Mask([]byte(in)) != 0 {
				t.Fatalf("%q passes no prefilter, but Mask found a value", in)
			}
		}
		b := []byte(in)
		all.NewMasker().Mask(b)
		if len(b) != len(in) {
			t.Fatalf("length changed")
		}
		for i := range b {
			if b[i] != in[i] && b[i] != MaskChar {
				t.Fatalf("byte %d changed to %q", i, b[i])
			}
		}
	})
}

// BenchmarkMask: three detectors over 16 KiB of JSON-like text with a
// few values to mask.
func BenchmarkMask(b *testing.B) {
	s := set(b, "email", "card", "phone")
	var sb strings.Builder
	for i := 0; sb.Len() < 16<<10; i++ {
		sb.WriteString(`{"id":"c-8f14e45f","name":"Widget, brushed steel","quantity":12,"updated":"2026-11-24T13:06:00Z","note":"Please leave the parcel with the neighbour"}`)
		if i%20 == 0 {
			sb.WriteString(`{"email":"jane.doe@example.com","card":"4111111111111111","phone":"+44 20 7946 0958"}`)
		}
	}
	in := []byte(sb.String())
	buf := make([]byte, len(in))
	m := s.NewMasker()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, in)
		m.Mask(buf)
	}
}
