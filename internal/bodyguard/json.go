// Package bodyguard is stage 8's structure guard: the request body must
// have an allowed content type, and a JSON body must be well formed and
// within the policy's structure limits (depth, keys per object, array
// length, string length, no duplicate keys), checked in one streaming
// pass before the upstream sees a byte.
package bodyguard

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rampart-gw/rampart/internal/jsonlex"
)

// JSONLimits bound a JSON body's structure; 0 means no limit.
type JSONLimits struct {
	MaxDepth           int
	MaxKeys            int // per object
	MaxArray           int // items per array
	MaxString          int // bytes, keys and values
	AllowDuplicateKeys bool
}

// Violation is where a body breaks a rule: a JSON pointer (RFC 6901)
// into the body, and what is wrong there.
type Violation struct {
	Pointer string
	Message string
}

func (v *Violation) Error() string { return v.Pointer + ": " + v.Message }

// frame is one open object or array.
type frame struct {
	object bool
	n      int    // keys or items so far
	key    string // the current key (object), decoded
	keys   map[string]struct{}
}

// scanner checks a JSON document held in memory: a hand-written
// recursive-descent parser with an explicit stack, so depth costs no Go
// stack, and no token is materialised except keys for the duplicate
// check. It follows RFC 8259 exactly (what encoding/json accepts).
type scanner struct {
	b     []byte
	i     int
	lim   JSONLimits
	stack []frame
}

// CheckJSON checks body, which must be valid UTF-8, and reports the
// first violation of syntax or limits, or nil. Work is linear in its
// size; memory is the stack of open containers and, when duplicate keys
// are refused, the keys of the objects still open.
func CheckJSON(body []byte, lim JSONLimits) *Violation {
	s := &scanner{b: body, lim: lim}
	return s.document()
}

func (s *scanner) pointer() string {
	var b strings.Builder
	for _, f := range s.stack {
		b.WriteByte('/')
		if f.object {
			b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(f.key))
		} else {
			b.WriteString(strconv.Itoa(f.n - 1))
		}
	}
	return b.String()
}

func (s *scanner) fail(format string, args ...any) *Violation {
	return &Violation{Pointer: s.pointer(), Message: fmt.Sprintf(format, args...)}
}

func (s *scanner) malformed(what string) *Violation {
	if s.i >= len(s.b) {
		return s.fail("malformed JSON: the body ends before %s", what)
	}
	return s.fail("malformed JSON at byte %d: expected %s", s.i, what)
}

func (s *scanner) ws() { s.i = jsonlex.Space(s.b, s.i) }

// lexError reports a token's error at its offset.
func (s *scanner) lexError(e *jsonlex.Error) *Violation {
	s.i = e.Offset
	return s.malformed(e.Want)
}

func (s *scanner) document() *Violation {
	s.ws()
	if s.i == len(s.b) {
		return s.fail("the body is empty; send a JSON value")
	}
	for {
		// A value starts here.
		if v := s.value(); v != nil {
			return v
		}
		// After a value: close containers or go on to the next value.
		for {
			s.ws()
			n := len(s.stack)
			if n == 0 {
				if s.i != len(s.b) {
					return s.fail("more than one JSON value, or trailing bytes at byte %d; send exactly one", s.i)
				}
				return nil
			}
			f := &s.stack[n-1]
			if s.i >= len(s.b) {
				return s.malformed("the end of an object or array")
			}
			c := s.b[s.i]
			switch {
			case c == ',':
				s.i++
				s.ws()
				if f.object {
					if v := s.key(f); v != nil {
						return v
					}
				} else if v := s.item(f); v != nil {
					return v
				}
			case f.object && c == '}', !f.object && c == ']':
				s.i++
				s.stack = s.stack[:n-1]
				continue
			case f.object:
				return s.malformed("',' or '}'")
			default:
				return s.malformed("',' or ']'")
			}
			break // a value follows
		}
	}
}

// item counts a new array item.
func (s *scanner) item(f *frame) *Violation {
	f.n++
	if s.lim.MaxArray > 0 && f.n > s.lim.MaxArray {
		return s.fail("array has more than %d items", s.lim.MaxArray)
	}
	return nil
}

// key reads an object key and the colon after it.
func (s *scanner) key(f *frame) *Violation {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return s.malformed("a key in double quotes")
	}
	start := s.i
	if v := s.str(); v != nil {
		return v
	}
	raw := s.b[start+1 : s.i-1]
	f.n++
	if s.lim.MaxKeys > 0 && f.n > s.lim.MaxKeys {
		f.key = decode(raw)
		return s.fail("object has more than %d keys", s.lim.MaxKeys)
	}
	if !s.lim.AllowDuplicateKeys || s.lim.MaxString > 0 {
		f.key = decode(raw)
	}
	if s.lim.MaxString > 0 && len(raw) > s.lim.MaxString {
		return s.fail("key is longer than %d bytes", s.lim.MaxString)
	}
	if !s.lim.AllowDuplicateKeys {
		if _, dup := f.keys[f.key]; dup {
			return s.fail("duplicate key: parsers disagree on which value wins, so it is refused")
		}
		if f.keys == nil {
			f.keys = map[string]struct{}{}
		}
		f.keys[f.key] = struct{}{}
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return s.malformed("':' after the key")
	}
	s.i++
	s.ws()
	return nil
}

// value reads one value; a container is opened and left on the stack
// with its first key or item read up to the next value.
func (s *scanner) value() *Violation {
	for {
		if s.i >= len(s.b) {
			return s.malformed("a value")
		}
		switch c := s.b[s.i]; {
		case c == '{' || c == '[':
			if s.lim.MaxDepth > 0 && len(s.stack) >= s.lim.MaxDepth {
				return s.fail("nested deeper than %d levels", s.lim.MaxDepth)
			}
			s.i++
			s.stack = append(s.stack, frame{object: c == '{'})
			f := &s.stack[len(s.stack)-1]
			s.ws()
			if s.i < len(s.b) && (c == '{' && s.b[s.i] == '}' || c == '[' && s.b[s.i] == ']') {
				s.i++
				s.stack = s.stack[:len(s.stack)-1]
				return nil
			}
			if c == '{' {
				if v := s.key(f); v != nil {
					return v
				}
			} else if v := s.item(f); v != nil {
				return v
			}
			continue // the first member's value
		case c == '"':
			start := s.i
			if v := s.str(); v != nil {
				return v
			}
			if s.lim.MaxString > 0 && s.i-start-2 > s.lim.MaxString {
				return s.fail("string is longer than %d bytes", s.lim.MaxString)
			}
			return nil
		case c == '-' || c >= '0' && c <= '9':
			return s.number()
		case c == 't':
			return s.literal("true")
		case c == 'f':
			return s.literal("false")
		case c == 'n':
			return s.literal("null")
		default:
			return s.malformed("a value")
		}
	}
}

func (s *scanner) literal(word string) *Violation {
	end, err := jsonlex.Literal(s.b, s.i, word)
	if err != nil {
		return s.lexError(err)
	}
	s.i = end
	return nil
}

func (s *scanner) number() *Violation {
	end, _, _, err := jsonlex.Number(s.b, s.i)
	if err != nil {
		return s.lexError(err)
	}
	s.i = end
	return nil
}

// str reads a string from its opening quote past its closing one.
func (s *scanner) str() *Violation {
	end, _, err := jsonlex.String(s.b, s.i)
	if err != nil {
		return s.lexError(err)
	}
	s.i = end
	return nil
}

// decode returns the text of a string's raw (already checked) contents.
func decode(raw []byte) string {
	if !strings.Contains(string(raw), `\`) {
		return string(raw)
	}
	return string(jsonlex.Unescape(make([]byte, 0, len(raw)), raw))
}
