// Package bodyguard is stage 8's structure guard: the request body must
// have an allowed content type, and a JSON body must be well formed and
// within the policy's structure limits (depth, keys per object, array
// length, string length, no duplicate keys), checked in one streaming
// pass before the upstream sees a byte.
package bodyguard

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
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

type frame struct {
	object  bool
	wantKey bool
	n       int    // keys or items so far
	key     string // the current key (object)
	keys    map[string]struct{}
}

// CheckJSON reads r to its end and reports the first violation of
// syntax or limits, or nil. Work is linear in the body's size; memory is
// one token and, when duplicate keys are refused, the keys of the open
// objects. Read errors other than malformed JSON are returned as error.
// (encoding/json reads invalid UTF-8 as U+FFFD: callers holding the raw
// bytes check utf8.Valid first.)
func CheckJSON(r io.Reader, lim JSONLimits) (*Violation, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var stack []frame
	pointer := func() string {
		var b strings.Builder
		for _, f := range stack {
			b.WriteByte('/')
			if f.object {
				b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(f.key))
			} else {
				b.WriteString(strconv.Itoa(f.n - 1))
			}
		}
		return b.String()
	}
	top := true // the next value is the document's
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			switch {
			case top:
				return &Violation{Pointer: "", Message: "the body is empty; send a JSON value"}, nil
			case len(stack) > 0:
				return &Violation{Pointer: pointer(), Message: "malformed JSON: the body ends before its closing brackets"}, nil
			}
			return nil, nil
		}
		if err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
				return &Violation{Pointer: pointer(), Message: "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")}, nil
			}
			return nil, err
		}
		if !top && len(stack) == 0 {
			return &Violation{Pointer: "", Message: "more than one JSON value; send exactly one"}, nil
		}
		// A key of the innermost object?
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			f := &stack[n-1]
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone(stack)
				continue
			}
			k, _ := tok.(string)
			f.n++
			f.key = k
			f.wantKey = false
			if lim.MaxKeys > 0 && f.n > lim.MaxKeys {
				return &Violation{Pointer: pointer(), Message: fmt.Sprintf("object has more than %d keys", lim.MaxKeys)}, nil
			}
			if lim.MaxString > 0 && len(k) > lim.MaxString {
				return &Violation{Pointer: pointer(), Message: fmt.Sprintf("key is longer than %d bytes", lim.MaxString)}, nil
			}
			if !lim.AllowDuplicateKeys {
				if _, dup := f.keys[k]; dup {
					return &Violation{Pointer: pointer(), Message: "duplicate key: parsers disagree on which value wins, so it is refused"}, nil
				}
				if f.keys == nil {
					f.keys = map[string]struct{}{}
				}
				f.keys[k] = struct{}{}
			}
			continue
		}
		top = false
		// A value, in an array or as an object's value.
		if n := len(stack); n > 0 && !stack[n-1].object {
			if d, ok := tok.(json.Delim); ok && d == ']' {
				stack = stack[:n-1]
				valueDone(stack)
				continue
			}
			f := &stack[n-1]
			f.n++
			if lim.MaxArray > 0 && f.n > lim.MaxArray {
				return &Violation{Pointer: pointer(), Message: fmt.Sprintf("array has more than %d items", lim.MaxArray)}, nil
			}
		}
		switch t := tok.(type) {
		case json.Delim: // { or [
			if lim.MaxDepth > 0 && len(stack) >= lim.MaxDepth {
				return &Violation{Pointer: pointer(), Message: fmt.Sprintf("nested deeper than %d levels", lim.MaxDepth)}, nil
			}
			stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
			continue
		case string:
			if lim.MaxString > 0 && len(t) > lim.MaxString {
				return &Violation{Pointer: pointer(), Message: fmt.Sprintf("string is longer than %d bytes", lim.MaxString)}, nil
			}
		}
		valueDone(stack)
	}
}

// valueDone notes that a value of the innermost object is complete, so
// a key comes next.
func valueDone(stack []frame) {
	if n := len(stack); n > 0 && stack[n-1].object {
		stack[n-1].wantKey = true
	}
}
