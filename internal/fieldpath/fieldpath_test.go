package fieldpath

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func mustCompile(t testing.TB, patterns ...string) *Set {
	t.Helper()
	s, err := Compile(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParse(t *testing.T) {
	for p, want := range map[string]string{
		"user.ssn":               "",
		"items[*].internal_cost": "",
		"**.password":            "",
		"[*].token":              "",
		"a[0][1].b":              "",
		`meta["x.y"].z`:          "",
		"*.secret":               "",
		"":                       "empty field pattern",
		"a..b":                   "empty name",
		"a.":                     "expected . or [",
		"a[x]":                   "is not an array index",
		"a[-1]":                  "is not an array index",
		"a[":                     "unterminated [",
		`a["b`:                   "unterminated",
		"a*b":                    "use [\"name\"]",
		"**":                     "names the whole document",
	} {
		_, err := Compile([]string{p})
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", p, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want one containing %q", p, err, want)
		}
	}
}

// maskDigits stands in for a detector: every digit becomes '*'.
func maskDigits(v []byte) bool {
	changed := false
	for i, c := range v {
		if '0' <= c && c <= '9' {
			v[i] = '*'
			changed = true
		}
	}
	return changed
}

func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		remove   []string
		mask     bool
		in, want string
	}{
		{"top-level member", []string{"ssn"}, false, `{"name":"Jane","ssn":"123"}`, `{"name":"Jane"}`},
		{"first member", []string{"ssn"}, false, `{"ssn":"123", "name":"Jane"}`, `{"name":"Jane"}`},
		{"only member", []string{"ssn"}, false, `{ "ssn" : "123" }`, `{ }`},
		{"middle, spacing kept", []string{"b"}, false, "{\n  \"a\": 1,\n  \"b\": {\"x\": [1, 2]},\n  \"c\": 3\n}", "{\n  \"a\": 1,\n  \"c\": 3\n}"},
		{"several in a row", []string{"a", "b", "d"}, false, `{"a":1,"b":2,"c":3,"d":4}`, `{"c":3}`},
		{"several in a row after one kept", []string{"b", "c"}, false, `{"a":1,"b":2,"c":3}`, `{"a":1}`},
		{"runs after kept ones", []string{"b", "c", "e", "f"}, false, `{"a":1, "b":2, "c":[3], "d":4, "e":{"x":5}, "f":6, "g":7}`, `{"a":1, "d":4, "g":7}`},
		{"elements in a row after one kept", []string{"[1]", "[2]"}, false, `[0,1,2,3]`, `[0,3]`},
		{"nested", []string{"user.ssn"}, false, `{"user":{"id":1,"ssn":"x"},"ssn":"kept"}`, `{"user":{"id":1},"ssn":"kept"}`},
		{"every element", []string{"items[*].cost"}, false, `{"items":[{"sku":"a","cost":1},{"cost":2,"sku":"b"}]}`, `{"items":[{"sku":"a"},{"sku":"b"}]}`},
		{"one element", []string{"items[1]"}, false, `{"items":[10,20,30]}`, `{"items":[10,30]}`},
		{"all elements", []string{"items[*]"}, false, `{"items":[10,20,30]}`, `{"items":[]}`},
		{"any depth", []string{"**.password"}, false, `{"password":"a","u":{"password":"b","list":[{"password":"c","k":1}]}}`, `{"u":{"list":[{"k":1}]}}`},
		{"wildcard name", []string{"*.secret"}, false, `{"a":{"secret":1,"x":2},"b":{"secret":3},"secret":4}`, `{"a":{"x":2},"b":{},"secret":4}`},
		{"top-level array", []string{"[*].token"}, false, `[{"token":"t","id":1},{"id":2}]`, `[{"id":1},{"id":2}]`},
		{"escaped name", []string{"ssn"}, false, `{"s\u0073n":"123","a":1}`, `{"a":1}`},
		{"quoted name", []string{`["a.b"]`}, false, `{"a.b":1,"a":{"b":2}}`, `{"a":{"b":2}}`},
		{"duplicate names", []string{"k"}, false, `{"k":1,"k":2,"j":3}`, `{"j":3}`},
		{"below removed", []string{"user.**"}, false, `{"user":{"a":1},"x":2}`, `{"x":2}`},
		{"mask strings, not names or numbers", nil, true, `{"a1":"x1","n":12,"s":["2","b"]}`, `{"a1":"x*","n":12,"s":["*","b"]}`},
		{"mask escaped string", nil, true, `{"a":"line\n1 \u0032"}`, `{"a":"line\n* *"}`},
		{"mask and remove", []string{"drop"}, true, `{"drop":"1","keep":"2"}`, `{"keep":"*"}`},
		{"nothing to do", []string{"absent"}, true, `{"a":"b"}`, `{"a":"b"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &Edits{}
			if tc.remove != nil {
				e.Remove = mustCompile(t, tc.remove...)
			}
			if tc.mask {
				e.MaskString = maskDigits
			}
			out, _, err := Rewrite([]byte(tc.in), e, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Errorf("got  %s\nwant %s", out, tc.want)
			}
			if !json.Valid(out) {
				t.Errorf("output is not valid JSON")
			}
		})
	}
}

func TestMaskNumbers(t *testing.T) {
	e := &Edits{MaskString: maskDigits, MaskNumbers: true}
	out, _, err := Rewrite([]byte(`{"card":4111111111111111,"qty":12,"f":1234567890123.5}`), e, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"card":"****************","qty":12,"f":1234567890123.5}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

func TestReplace(t *testing.T) {
	e := &Edits{Replace: mustCompile(t, "**.secret"), MaskString: maskDigits,
		ReplaceValue: func(dst, raw []byte) ([]byte, error) {
			return append(append(append(dst, `"enc(`...), bytes.ReplaceAll(raw, []byte(`"`), []byte(`'`))...), `)"`...), nil
		}}
	out, _, err := Rewrite([]byte(`{"secret":{"pin":"1234"},"n":{"secret":42},"x":"9"}`), e, nil)
	if err != nil {
		t.Fatal(err)
	}
	// a replaced value reaches ReplaceValue unmasked
	if want := `{"secret":"enc({'pin':'1234'})","n":{"secret":"enc(42)"},"x":"*"}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
}

func TestInvalid(t *testing.T) {
	e := &Edits{Remove: mustCompile(t, "a"), MaskString: maskDigits}
	for _, in := range []string{``, `{`, `{"a":1,}`, `{"a" 1}`, `[1 2]`, `{"a":tru}`, `"abc`, `"\x"`, `"\u12"`, `01`, `1.`, `1e`, `-`, `{} x`, `{"a":1}}`, "{\"a\":\"x\x01\"}", "{\"b\":\"\ty\"}", `[` + strings.Repeat(`[`, 600) + strings.Repeat(`]`, 601)} {
		if _, _, err := Rewrite([]byte(in), e, nil); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzRewrite: on any valid document, Rewrite succeeds, its output is
// valid JSON, and it equals what removing and masking the decoded
// document gives.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{`{"a":{"password":"1","b":[1,{"password":2}]},"c":"x9"}`, `[{"token":"t"},{"k":"v"}]`, `{"s\u0073n":"1"}`, `"a\"1"`, `{"a":[],"b":{}}`} {
		f.Add(s, "**.password")
		f.Add(s, "a.b[1]")
		f.Add(s, "[*].token")
	}
	f.Add(`{"n":-123456789012345,"e":1.5e123456789012345,"f":123456789012345.5,"k":[123456789012345]}`, "k")
	// Several patterns, separated by spaces: runs of members left out.
	f.Add(`{"a":1,"b":2,"c":3,"d":{"e":[1,2,3]}}`, "b c d.e[1] d.e[2]")
	f.Fuzz(func(t *testing.T, in, patterns string) {
		set, err := Compile(strings.Fields(patterns))
		if err != nil {
			return
		}
		var want any
		d := json.NewDecoder(strings.NewReader(in))
		d.UseNumber()
		if d.Decode(&want) != nil || !json.Valid([]byte(in)) {
			// The full walk reads as strictly as encoding/json (the light
			// pass, masking only, does not check the structure).
			if _, _, err := Rewrite([]byte(in), &Edits{Remove: set, MaskString: maskDigits}, nil); err == nil {
				t.Fatalf("invalid %q: the full walk accepted it", in)
			}
			return
		}
		out, _, err := Rewrite([]byte(in), &Edits{Remove: set, MaskString: maskDigits}, nil)
		if err != nil {
			t.Fatalf("valid %q: %v", in, err)
		}
		if !json.Valid(out) {
			t.Fatalf("output %q of %q is not valid JSON", out, in)
		}
		var got any
		d = json.NewDecoder(bytes.NewReader(out))
		d.UseNumber()
		if err := d.Decode(&got); err != nil {
			t.Fatal(err)
		}
		// the light pass (masking only) masks as the full walk does
		light := []byte(in)
		lightOut, _, err := Rewrite(light, &Edits{MaskString: maskDigits, MaskNumbers: true}, nil)
		if err != nil {
			t.Fatalf("light pass: %v", err)
		}
		full := []byte(in)
		fullOut, _, err := Rewrite(full, &Edits{MaskString: maskDigits, MaskNumbers: true, full: true}, nil)
		if err != nil {
			t.Fatalf("full walk: %v", err)
		}
		if !bytes.Equal(lightOut, fullOut) {
			t.Fatalf("%q: light pass %q, full walk %q", in, lightOut, fullOut)
		}
		want = reference(set, set.Start(), want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q with %q:\ngot  %#v\nwant %#v", in, patterns, got, want)
		}
	})
}

// reference removes and masks on a decoded document.
func reference(s *Set, st State, v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			c := s.Member(st, []byte(k))
			if s.Matched(c) {
				delete(v, k)
				continue
			}
			v[k] = reference(s, c, x)
		}
	case []any:
		kept := []any{}
		for i, x := range v {
			c := s.Element(st, i)
			if !s.Matched(c) {
				kept = append(kept, reference(s, c, x))
			}
		}
		return kept
	case string:
		b := []byte(v)
		maskDigits(b)
		return string(b)
	}
	return v
}

// BenchmarkRewrite: a 16 KiB JSON list, removing one field per item and
// masking strings with a no-op masker (the walk's own cost).
func BenchmarkRewrite(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := 0; sb.Len() < 16<<10; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"id":"c-8f14e45f","name":"Widget, brushed steel","quantity":12,"internal_cost":3.5,"updated":"2026-11-24T13:06:00Z"}`)
	}
	sb.WriteString(`]}`)
	in := []byte(sb.String())
	e := &Edits{Remove: mustCompile(b, "items[*].internal_cost"), MaskString: func([]byte) bool { return false }}
	buf := make([]byte, 0, len(in))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Rewrite(in, e, buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
