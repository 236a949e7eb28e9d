package fieldpath

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/bytescan"
)

// maskAtAndDigits masks what the test's MaskBytes names: '@' and digits.
func maskAtAndDigits(v []byte) bool {
	changed := false
	for i, c := range v {
		if c == '@' || '0' <= c && c <= '9' {
			v[i] = '*'
			changed = true
		}
	}
	return changed
}

// maskGated masks as maskAtAndDigits, but only a string holding an '@'
// or three digits.
func maskGated(v []byte) bool {
	if bytes.IndexByte(v, '@') < 0 && bytes.Count(v, []byte("0"))+bytes.Count(v, []byte("1"))+bytes.Count(v, []byte("2"))+
		bytes.Count(v, []byte("3"))+bytes.Count(v, []byte("4"))+bytes.Count(v, []byte("5"))+bytes.Count(v, []byte("6"))+
		bytes.Count(v, []byte("7"))+bytes.Count(v, []byte("8"))+bytes.Count(v, []byte("9")) < 3 {
		return false
	}
	return maskAtAndDigits(v)
}

// The block pass's filters, with the masker each is exact for.
var blockCases = []struct {
	name   string
	mask   func([]byte) bool
	bytes  *bytescan.Set
	digits int
}{
	{"bytes", maskAtAndDigits, bytescan.NewSet(func(c byte) bool { return c == '@' || '0' <= c && c <= '9' }), 0},
	{"bytes and digits", maskGated, bytescan.NewSet(func(c byte) bool { return c == '@' }), 3},
}

// sameAsMaskAll checks that the block pass gives what the byte-by-byte
// pass gives on in.
func sameAsMaskAll(t *testing.T, in []byte) {
	t.Helper()
	for _, tc := range blockCases {
		want, wantChanged, err := Rewrite(bytes.Clone(in), &Edits{MaskString: tc.mask, MaskNumbers: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, gotChanged, err := Rewrite(bytes.Clone(in), &Edits{MaskString: tc.mask, MaskBytes: tc.bytes, MaskDigits: tc.digits, MaskNumbers: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || gotChanged != wantChanged {
			t.Fatalf("%s, %q:\nblocks  %q (%v)\nbytes   %q (%v)", tc.name, in, got, gotChanged, want, wantChanged)
		}
	}
}

// TestMaskBlocks: documents built from JSON's pieces, long enough to
// cross blocks and scanning windows, with strings, names, long numbers,
// escapes and unterminated strings where chance puts them.
func TestMaskBlocks(t *testing.T) {
	pieces := []string{`"`, `"`, `"a@b.example"`, `"name":`, `"x" : `, `:`, `,`, ` `, `{`, `}`, `[`, `]`, `12`, `1234567890123`,
		`-4111111111111111`, `1.5e12345678901234`, `"4111 1111 1111 1111"`, `"a1"`, `"12"`, `"1@"`, `plain words `, `@`, `é`, `\`, `\"`, `\u0040`}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		var sb strings.Builder
		size := rng.IntN(5000)
		escapes := rng.IntN(3) == 0
		for sb.Len() < size {
			p := pieces[rng.IntN(len(pieces))]
			if !escapes && strings.Contains(p, `\`) {
				continue
			}
			sb.WriteString(p)
		}
		sameAsMaskAll(t, []byte(sb.String()))
	}
	for _, s := range []string{``, `"`, `"1`, `"@":`, `"a" "1"`, `12345678901234`, `"a"` + strings.Repeat(" ", 60) + `123456789012345678`,
		strings.Repeat(`{"k":"v1"},`, 500), `"` + strings.Repeat("a", 70) + `1"`, `"1` + strings.Repeat("a", 70) + `1` + strings.Repeat("a", 70) + `1"`, strings.Repeat(`"x",`, 600) + `"\u0031"`} {
		sameAsMaskAll(t, []byte(s))
	}
}

func FuzzMaskBlocks(f *testing.F) {
	f.Add(`{"a":"x@y.example","n":12345678901234,"s":"\"1"}`)
	f.Add(strings.Repeat(`{"id":"ord_1","email":"c1@example.com"},`, 60))
	f.Fuzz(func(t *testing.T, in string) {
		sameAsMaskAll(t, []byte(in))
	})
}
