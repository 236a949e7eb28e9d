package jsonlex

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		in      string
		end     int
		escaped bool
		want    string // the error's Want; "" for none
		offset  int
	}{
		{`"abc"`, 5, false, "", 0},
		{`"a\"b" x`, 6, true, "", 0},
		{`"\u00e9\n"`, 10, true, "", 0},
		{`"abc`, 0, false, "the closing quote of a string", 4},
		{"\"a\x01b\"", 0, false, "no control character in a string (escape it)", 2},
		{"\"a\\x\"", 0, false, "a valid escape", 3},
		{"\"\\u12g4\"", 0, false, `four hex digits after \u`, 3},
		{`"a\`, 0, false, "an escape", 2},
		{"\"12345678\x1f\"", 0, false, "no control character in a string (escape it)", 9},
		{"\"1234567\x7f\xff\"", 11, false, "", 0},
	}
	for _, tt := range tests {
		end, escaped, err := String([]byte(tt.in), 0)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.want != "" && (err == nil || err.Want != tt.want || err.Offset != tt.offset):
			t.Errorf("%q: error %v, want %q at %d", tt.in, err, tt.want, tt.offset)
		case tt.want == "" && (end != tt.end || escaped != tt.escaped):
			t.Errorf("%q: end %d escaped %v, want %d %v", tt.in, end, escaped, tt.end, tt.escaped)
		}
	}
}

func TestNumber(t *testing.T) {
	tests := []struct {
		in        string
		end, ints int
		integer   bool
		want      string
	}{
		{"0", 1, 1, true, ""},
		{"-123456789012,", 13, 12, true, ""},
		{"1.5e10]", 6, 1, false, ""},
		{"01", 1, 1, true, ""}, // the caller refuses the 1 that follows
		{"-", 0, 0, false, "a digit"},
		{"1.", 0, 0, false, "a digit after '.'"},
		{"1e+", 0, 0, false, "a digit in the exponent"},
	}
	for _, tt := range tests {
		end, ints, integer, err := Number([]byte(tt.in), 0)
		if tt.want != "" {
			if err == nil || err.Want != tt.want {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.want)
			}
			continue
		}
		if err != nil || end != tt.end || ints != tt.ints || integer != tt.integer {
			t.Errorf("%q: %d %d %v %v, want %d %d %v", tt.in, end, ints, integer, err, tt.end, tt.ints, tt.integer)
		}
	}
}

// FuzzString: a string literal String reads whole is one encoding/json
// accepts, and the reverse; its content unescaped is what encoding/json
// decodes.
func FuzzString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"\ud83d\ude00"`, `"\ud800\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, "\"a\x01\"", `"\x"`, `"\u12"`, `"é\/"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		b := []byte(in)
		if len(b) == 0 || b[0] != '"' {
			return
		}
		end, escaped, err := String(b, 0)
		whole := err == nil && Space(b, end) == len(b) // json.Valid allows white space after a value
		if whole != json.Valid(b) {
			t.Fatalf("%q: String reads it whole %v (err %v), encoding/json accepts it %v", in, whole, err, json.Valid(b))
		}
		if !whole {
			return
		}
		content, b := b[1:end-1], b[:end]
		if escaped != bytes.Contains(content, []byte(`\`)) {
			t.Fatalf("%q: escaped %v", in, escaped)
		}
		var want string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		if got := string(Unescape(nil, content)); utf8.Valid(content) && got != want {
			t.Fatalf("%q: Unescape %q, encoding/json %q", in, got, want)
		}
	})
}

// FuzzNumber: a number Number reads whole is one encoding/json accepts,
// and the reverse.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-1", "1.5", "1e5", "-0.0E-0", "01", "1.", "-", "1e", "123456789012345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		b := []byte(in)
		if len(b) == 0 || !(b[0] == '-' || '0' <= b[0] && b[0] <= '9') {
			return
		}
		end, _, integer, err := Number(b, 0)
		whole := err == nil && Space(b, end) == len(b) // json.Valid allows white space after a value
		if whole != json.Valid(b) {
			t.Fatalf("%q: Number reads it whole %v (err %v), encoding/json accepts it %v", in, whole, err, json.Valid(b))
		}
		if whole && integer == strings.ContainsAny(in[:end], ".eE") {
			t.Fatalf("%q: integer %v", in, integer)
		}
	})
}

func BenchmarkString(b *testing.B) {
	s := []byte(`"` + strings.Repeat("The quick brown fox, jumps over the lazy dog. ", 8) + `"`)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := String(s, 0); err != nil {
			b.Fatal(err)
		}
	}
}
