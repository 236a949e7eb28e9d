package bytescan

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// naive is what Scan must find, byte by byte, for a set given exactly.
func naive(src []byte, member func(byte) bool) []Block {
	out := make([]Block, (len(src)+BlockSize-1)/BlockSize)
	for i, c := range src {
		b, bit := &out[i/BlockSize], uint64(1)<<(i%BlockSize)
		if c == '"' {
			b.Quote |= bit
		}
		if c == '\\' {
			b.Backslash |= bit
		}
		if '0' <= c && c <= '9' {
			b.Digit |= bit
		}
		if member(c) {
			b.Member |= bit
		}
	}
	return out
}

func scanBoth(t *testing.T, s *Set, src []byte) []Block {
	t.Helper()
	got := make([]Block, (len(src)+BlockSize-1)/BlockSize)
	s.Scan(got, src)
	full := len(src) &^ (BlockSize - 1)
	generic := make([]Block, len(got))
	scanGeneric(&s.t, src[:full], generic)
	for k := range full / BlockSize {
		if generic[k] != got[k] {
			t.Fatalf("block %d: kernel %+v, Go %+v", k, got[k], generic[k])
		}
	}
	return got
}

func TestScan(t *testing.T) {
	sets := map[string]func(byte) bool{
		"email, phone, card": func(c byte) bool { return c == '@' || c == '+' || c == '(' || '0' <= c && c <= '9' },
		"none":               func(byte) bool { return false },
		"all":                func(byte) bool { return true },
		"letters and high":   func(c byte) bool { return 'A' <= c && c <= 'Z' || c == 'e' || c >= 0xf0 || c == 0 },
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("\"\\0123456789@+(eEAZaz:,{} \x00\x7f\x80\xff")
	for name, member := range sets {
		s := NewSet(member)
		if !s.Exact() {
			t.Errorf("%s: not exact", name)
		}
		for c := 0; c < 256; c++ {
			if s.Has(byte(c)) != member(byte(c)) {
				t.Errorf("%s: Has(%q) = %v", name, byte(c), !member(byte(c)))
			}
		}
		for _, n := range []int{0, 1, 63, 64, 65, 127, 128, 1000, 4096} {
			src := make([]byte, n)
			for i := range src {
				if rng.IntN(2) == 0 {
					src[i] = alphabet[rng.IntN(len(alphabet))]
				} else {
					src[i] = byte(rng.IntN(256))
				}
			}
			got := scanBoth(t, s, src)
			want := naive(src, member)
			for k := range want {
				if got[k] != want[k] {
					t.Fatalf("%s, %d bytes, block %d: got %+v, want %+v", name, n, k, got[k], want[k])
				}
			}
		}
	}
}

// TestScanInexact: a set of more row patterns than classes is flagged
// as a superset, never missing a member.
func TestScanInexact(t *testing.T) {
	member := func(c byte) bool { return c < 0x80 && int(c&15) == int(c>>4) } // eight rows, eight patterns
	s := NewSet(member)
	if s.Exact() {
		t.Error("eight row patterns reported exact")
	}
	for c := 0; c < 256; c++ {
		if member(byte(c)) && !s.Has(byte(c)) {
			t.Errorf("member %q missed", byte(c))
		}
	}
}

func TestInsideQuotes(t *testing.T) {
	for _, tc := range []struct {
		text   string
		inside bool
		want   string
		end    bool
	}{
		{`{"a":"b"}`, false, `.xx..xx..`, false},
		{`c" 1 "d`, true, `x....xx`, true},
		{`"`, false, `x`, true},
		{`ab`, true, `xx`, true},
	} {
		var q uint64
		for i, c := range []byte(tc.text) {
			if c == '"' {
				q |= 1 << i
			}
		}
		x, end := InsideQuotes(q, tc.inside)
		var sb strings.Builder
		for i := range tc.text {
			sb.WriteByte(".x"[x>>i&1])
		}
		if sb.String() != tc.want || (len(tc.text) == 64 && end != tc.end) {
			t.Errorf("%s: got %s, want %s", tc.text, sb.String(), tc.want)
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte(`{"email":"a@b.example","n":12345678901234}`), "@+(")
	f.Add([]byte(strings.Repeat(`"\\"`, 40)), "\x00\xff")
	f.Fuzz(func(t *testing.T, src []byte, members string) {
		member := func(c byte) bool { return strings.IndexByte(members, c) >= 0 }
		s := NewSet(member)
		got := scanBoth(t, s, src)
		want := naive(src, member)
		for k := range want {
			g, w := got[k], want[k]
			if g.Quote != w.Quote || g.Backslash != w.Backslash || g.Digit != w.Digit || g.Member&w.Member != w.Member ||
				s.Exact() && g.Member != w.Member {
				t.Fatalf("block %d: got %+v, want %+v", k, g, w)
			}
		}
	})
}

func BenchmarkScan(b *testing.B) {
	src := []byte(strings.Repeat(`{"id":"ord_000001","email":"customer1@example.com","phone":"+44 20 7946 0001","qty":2},`, 200))[:16<<10]
	s := NewSet(func(c byte) bool { return c == '@' || c == '+' || c == '(' || '0' <= c && c <= '9' })
	dst := make([]Block, len(src)/BlockSize)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		s.Scan(dst, src)
	}
}

func TestHasControl(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", false},
		{"abcdefgh", false},
		{"tab\tinside, and more than eight bytes", false},
		{"\xff\xfe\x80\x81\x82\x83\x84\x85\x86 obs-text", false},
		{"abcdefg\x7f", true},
		{"\x1fabcdefgh", true},
		{"abcdefghijklmnop\r\n", true},
		{"abcdefghijklmnop\x00", true},
		{"ab\x00", true},
		{"~~~~~~~~ \x20!", false},
	}
	for _, tt := range tests {
		if got := HasControl(tt.s); got != tt.want {
			t.Errorf("HasControl(%q) = %v", tt.s, got)
		}
		if got := HasControl([]byte(tt.s)); got != tt.want {
			t.Errorf("HasControl([]byte(%q)) = %v", tt.s, got)
		}
	}
}

// TestHasControlEveryPosition puts each kind of byte at every position of
// values of every length up to 40: the word loop, the half-round and the
// tail must all see it.
func TestHasControlEveryPosition(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for pos := range n {
			for _, c := range []byte{0x00, '\r', '\n', 0x1f, 0x7f, '\t', ' ', 0x80, 0xff, '~'} {
				v := []byte(strings.Repeat("a", n))
				v[pos] = c
				want := IsControl(c)
				if HasControl(v) != want || HasControl(string(v)) != want {
					t.Fatalf("HasControl(%q) != %v", v, want)
				}
			}
		}
	}
}

func FuzzHasControl(f *testing.F) {
	for _, s := range []string{"", "abcdefgh", "abcdefg\x7f", "\x1fabcdefgh", "abcdefgh\tij", "\xff\xfe\x80\x81\x82\x83\x84\x85\x86"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := false
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
				want = true
			}
		}
		if HasControl(s) != want {
			t.Fatalf("HasControl(%q) = %v", s, !want)
		}
	})
}

func BenchmarkHasControl(b *testing.B) {
	s := strings.Repeat("eyJhbGciOiJFUzI1NiJ9", 20) // a token's worth of header value
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if HasControl(s) {
			b.Fatal("control")
		}
	}
}
