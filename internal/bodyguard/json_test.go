package bodyguard

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckJSON(t *testing.T) {
	lim := JSONLimits{MaxDepth: 4, MaxKeys: 3, MaxArray: 3, MaxString: 16}
	for _, tc := range []struct {
		name, body, pointer, msg string
	}{
		{"object", `{"a": 1, "b": [true, null, "x"], "c": {"d": -1.5e3}}`, "", ""},
		{"scalar document", `"hello"`, "", ""},
		{"nested within the limit", `[[[{"a": 1}]]]`, "", ""},
		{"too deep", `[[[[{"a": 1}]]]]`, "/0/0/0/0", "nested deeper than 4 levels"},
		{"too many keys", `{"a":1,"b":2,"c":3,"d":4}`, "/d", "object has more than 3 keys"},
		{"long array", `{"list": [1,2,3,4]}`, "/list/3", "array has more than 3 items"},
		{"long string", `{"name": "` + strings.Repeat("x", 17) + `"}`, "/name", "string is longer than 16 bytes"},
		{"long key", `{"` + strings.Repeat("k", 17) + `": 1}`, "/" + strings.Repeat("k", 17), "key is longer than 16 bytes"},
		{"duplicate key", `{"role": "user", "role": "admin"}`, "/role", "duplicate key"},
		{"duplicate key deep", `{"a": [{"x": 1}, {"x": 1, "x": 2}]}`, "/a/1/x", "duplicate key"},
		{"same key in sibling objects", `[{"x": 1}, {"x": 2}]`, "", ""},
		{"pointer escapes", `{"a/b": {"c~d": [1,2,3,4]}}`, "/a~1b/c~0d/3", "array has more than 3 items"},
		{"malformed", `{"a": }`, "/a", "malformed JSON"},
		{"truncated", `{"a": [1, 2`, "/a/1", "malformed JSON"},
		{"two values", `{} {}`, "", "more than one JSON value"},
		{"empty", ``, "", "the body is empty"},
		{"trailing garbage", `{"a": 1} x`, "", "trailing bytes at byte 9"},
		{"duplicate key spelt with an escape", `{"a": 1, "\u0061": 2}`, "/a", "duplicate key"},
		{"control character", "{\"a\": \"x\ty\"}", "/a", "no control character"},
		{"bad number", `{"n": 01}`, "/n", "expected ',' or '}'"},
		{"bad escape", `["\x"]`, "/0", "a valid escape"},
	} {
		v := CheckJSON([]byte(tc.body), lim)
		switch {
		case tc.msg == "" && v != nil:
			t.Errorf("%s: %v", tc.name, v)
		case tc.msg != "" && (v == nil || v.Pointer != tc.pointer || !strings.Contains(v.Message, tc.msg)):
			t.Errorf("%s: %v, want %s: %s", tc.name, v, tc.pointer, tc.msg)
		}
	}
}

// FuzzCheckJSON: without limits and with duplicate keys allowed, the
// guard accepts exactly what encoding/json calls valid; with limits it
// never accepts what is invalid. It never panics.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `[]`, `"x"`, `{"a":1,"a":2}`, `[[[[[[1]]]]]]`, `{`, `1 2`, `{"a":"\u00e9"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return // callers check UTF-8 on the raw bytes first
		}
		v := CheckJSON(body, JSONLimits{AllowDuplicateKeys: true})
		if valid := json.Valid(body); valid != (v == nil) {
			t.Fatalf("%q: json.Valid %v, guard %v", body, valid, v)
		}
		if v2 := CheckJSON(body, JSONLimits{MaxDepth: 3, MaxKeys: 2, MaxArray: 2, MaxString: 4}); v2 == nil && v != nil {
			t.Fatalf("%q: accepted with limits but malformed: %v", body, v)
		}
	})
}

func BenchmarkCheckJSON(b *testing.B) {
	body := `{"order": {"id": "ord_123", "items": [{"sku": "A-1", "qty": 2, "price": 12.5}, {"sku": "B-7", "qty": 1, "price": 99}],` +
		`"customer": {"email": "a@example.com", "name": "Ada", "tags": ["vip", "eu"]}, "note": "leave at the door"}}`
	lim := JSONLimits{MaxDepth: 32, MaxKeys: 1000, MaxArray: 10000, MaxString: 65536}
	b2 := []byte(body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if v := CheckJSON(b2, lim); v != nil {
			b.Fatal(v)
		}
	}
}
