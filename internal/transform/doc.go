package transform

import (
	"fmt"
	"unicode/utf8"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/jsonlex"
)

// node is one value of a JSON document read for editing. Objects keep
// their members in order (and a duplicate name as sent); scalars and
// member names keep the bytes they were sent as, so what no edit touches
// goes on unchanged.
type node struct {
	kind    byte     // '{', '[' or 0 for a scalar
	raw     []byte   // a scalar's JSON text
	rawKeys [][]byte // an object's member names as sent, quotes included
	keys    []string // an object's member names, unescaped
	vals    []*node  // an object's member values, an array's elements
}

// maxDepth bounds the nesting of a document read for editing.
const maxDepth = 512

// SyntaxError is a document that is not JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("at byte %d: %s", e.Offset, e.Msg) }

// parseDoc reads one JSON document (RFC 8259, as encoding/json accepts it).
func parseDoc(b []byte) (*node, error) {
	p := parser{b: b}
	p.ws()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(b) {
		return nil, p.fail("data after the document")
	}
	return n, nil
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws()                   { p.i = jsonlex.Space(p.b, p.i) }
func (p *parser) fail(msg string) error { return &SyntaxError{Offset: p.i, Msg: msg} }
func lexErr(e *jsonlex.Error) error     { return &SyntaxError{Offset: e.Offset, Msg: "expected " + e.Want} }
func (p *parser) at(c byte) bool        { return p.i < len(p.b) && p.b[p.i] == c }
func (p *parser) scalar(end int) *node  { n := &node{raw: p.b[p.i:end]}; p.i = end; return n }
func (p *parser) str() (int, bool, error) {
	end, esc, err := jsonlex.String(p.b, p.i)
	if err != nil {
		return 0, false, lexErr(err)
	}
	return end, esc, nil
}

func (p *parser) value(depth int) (*node, error) {
	if p.i >= len(p.b) {
		return nil, p.fail("expected a value")
	}
	switch c := p.b[p.i]; {
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return nil, p.fail("nested too deep")
		}
		return p.container(c, depth+1)
	case c == '"':
		end, _, err := p.str()
		if err != nil {
			return nil, err
		}
		return p.scalar(end), nil
	case c == '-' || '0' <= c && c <= '9':
		end, _, _, err := jsonlex.Number(p.b, p.i)
		if err != nil {
			return nil, lexErr(err)
		}
		return p.scalar(end), nil
	case c == 't' || c == 'f' || c == 'n':
		word := map[byte]string{'t': "true", 'f': "false", 'n': "null"}[c]
		end, err := jsonlex.Literal(p.b, p.i, word)
		if err != nil {
			return nil, lexErr(err)
		}
		return p.scalar(end), nil
	}
	return nil, p.fail("expected a value")
}

func (p *parser) container(open byte, depth int) (*node, error) {
	n := &node{kind: open}
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	p.i++
	p.ws()
	if p.at(closer) {
		p.i++
		return n, nil
	}
	for {
		if open == '{' {
			if !p.at('"') {
				return nil, p.fail("expected a member name")
			}
			start := p.i
			end, esc, err := p.str()
			if err != nil {
				return nil, err
			}
			raw := p.b[start:end]
			key := string(raw[1 : len(raw)-1])
			if esc {
				key = string(jsonlex.Unescape(nil, raw[1:len(raw)-1]))
			}
			n.rawKeys, n.keys = append(n.rawKeys, raw), append(n.keys, key)
			p.i = end
			p.ws()
			if !p.at(':') {
				return nil, p.fail("expected :")
			}
			p.i++
			p.ws()
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, v)
		p.ws()
		switch {
		case p.at(','):
			p.i++
			p.ws()
		case p.at(closer):
			p.i++
			return n, nil
		default:
			return nil, p.fail(fmt.Sprintf("expected , or %c", closer))
		}
	}
}

// appendDoc appends n's JSON text to dst.
func appendDoc(dst []byte, n *node) []byte {
	switch n.kind {
	case '{':
		dst = append(dst, '{')
		for i, v := range n.vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			if n.rawKeys[i] != nil {
				dst = append(dst, n.rawKeys[i]...)
			} else {
				dst = appendString(dst, n.keys[i])
			}
			dst = append(dst, ':')
			dst = appendDoc(dst, v)
		}
		return append(dst, '}')
	case '[':
		dst = append(dst, '[')
		for i, v := range n.vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendDoc(dst, v)
		}
		return append(dst, ']')
	}
	return append(dst, n.raw...)
}

// appendString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 as U+FFFD.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
			i++
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\ufffd"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(dst, '"')
}

// remove deletes the members and elements set matches, at any depth.
func remove(n *node, set *fieldpath.Set, st fieldpath.State) {
	if n.kind == 0 || st.Empty() {
		return
	}
	keep := 0
	for i, v := range n.vals {
		var next fieldpath.State
		if n.kind == '{' {
			next = set.Member(st, []byte(n.keys[i]))
		} else {
			next = set.Element(st, i)
		}
		if set.Matched(next) {
			continue
		}
		remove(v, set, next)
		n.vals[keep] = v
		if n.kind == '{' {
			n.keys[keep], n.rawKeys[keep] = n.keys[i], n.rawKeys[i]
		}
		keep++
	}
	n.vals = n.vals[:keep]
	if n.kind == '{' {
		n.keys, n.rawKeys = n.keys[:keep], n.rawKeys[:keep]
	}
}

// PathError is an edit the document's shape does not allow: a step
// through a value that is not an object (or an array, for [N]).
type PathError struct {
	Path string
	Msg  string
}

func (e *PathError) Error() string { return fmt.Sprintf("field %s: %s", e.Path, e.Msg) }

// lookupParent walks path's steps but the last; with create, missing
// objects on the way are made. It returns nil when a step is missing.
func lookupParent(root *node, path []fieldpath.PathStep, name string, create bool) (*node, error) {
	n := root
	for _, sp := range path[:len(path)-1] {
		var next *node
		switch {
		case sp.IsIndex:
			if n.kind != '[' {
				return nil, &PathError{name, "a step goes through a value that is not an array"}
			}
			if sp.Index < len(n.vals) {
				next = n.vals[sp.Index]
			}
		default:
			if n.kind != '{' {
				return nil, &PathError{name, "a step goes through a value that is not an object"}
			}
			if i := lastMember(n, sp.Name); i >= 0 {
				next = n.vals[i]
			} else if create {
				next = &node{kind: '{'}
				n.keys, n.rawKeys, n.vals = append(n.keys, sp.Name), append(n.rawKeys, nil), append(n.vals, next)
			}
		}
		if next == nil {
			return nil, nil
		}
		n = next
	}
	return n, nil
}

// lastMember is the index of the member named name that a reader such
// as encoding/json takes (the last), or -1.
func lastMember(n *node, name string) int {
	for i := len(n.keys) - 1; i >= 0; i-- {
		if n.keys[i] == name {
			return i
		}
	}
	return -1
}

// dropMembers removes every member named name from an object.
func dropMembers(n *node, name string) {
	keep := 0
	for i := range n.vals {
		if n.keys[i] == name {
			continue
		}
		n.keys[keep], n.rawKeys[keep], n.vals[keep] = n.keys[i], n.rawKeys[i], n.vals[i]
		keep++
	}
	n.keys, n.rawKeys, n.vals = n.keys[:keep], n.rawKeys[:keep], n.vals[:keep]
}

// setAt puts v at path, creating objects on the way; a member of that
// name is replaced (and any duplicate of it dropped, so that every reader
// sees v). An element index past an array's end is a PathError.
func setAt(root *node, path []fieldpath.PathStep, name string, v *node) error {
	parent, err := lookupParent(root, path, name, true)
	if err != nil {
		return err
	}
	last := path[len(path)-1]
	if last.IsIndex {
		if parent == nil || parent.kind != '[' || last.Index >= len(parent.vals) {
			return &PathError{name, "no such array element"}
		}
		parent.vals[last.Index] = v
		return nil
	}
	if parent.kind != '{' {
		return &PathError{name, "its parent is not an object"}
	}
	if lastMember(parent, last.Name) >= 0 {
		// the first member of the name keeps its place and takes v;
		// the others go
		keep, seen := 0, false
		for i := range parent.vals {
			if parent.keys[i] == last.Name {
				if seen {
					continue
				}
				seen = true
				parent.vals[i] = v
			}
			parent.keys[keep], parent.rawKeys[keep], parent.vals[keep] = parent.keys[i], parent.rawKeys[i], parent.vals[i]
			keep++
		}
		parent.keys, parent.rawKeys, parent.vals = parent.keys[:keep], parent.rawKeys[:keep], parent.vals[:keep]
		return nil
	}
	parent.keys, parent.rawKeys, parent.vals = append(parent.keys, last.Name), append(parent.rawKeys, nil), append(parent.vals, v)
	return nil
}

// take removes the value at path from the document and returns it, or
// nil when there is none.
func take(root *node, path []fieldpath.PathStep, name string) (*node, error) {
	parent, err := lookupParent(root, path, name, false)
	if err != nil || parent == nil {
		return nil, err
	}
	last := path[len(path)-1]
	if last.IsIndex {
		if parent.kind != '[' || last.Index >= len(parent.vals) {
			return nil, nil
		}
		v := parent.vals[last.Index]
		parent.vals = append(parent.vals[:last.Index], parent.vals[last.Index+1:]...)
		return v, nil
	}
	if parent.kind != '{' {
		return nil, nil
	}
	i := lastMember(parent, last.Name)
	if i < 0 {
		return nil, nil
	}
	v := parent.vals[i]
	dropMembers(parent, last.Name)
	return v, nil
}
