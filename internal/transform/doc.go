package transform

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/jsonlex"
)

// doc is a JSON document read for editing: its values are nodes in one
// slab, a container's members and elements a run of node indexes in
// another, so reading a document costs a handful of allocations however
// many values it has (and none once its doc is reused). Objects keep
// their members in order (and a duplicate name as sent); scalars and
// member names keep the bytes they were sent as, so what no edit touches
// goes on unchanged.
//
// The whole document is validated when it is read, but only the root's
// values become nodes: a nested container stays its text (lazy) until an
// edit goes into it, so an edit costs what it touches, not the size of
// the document. An edit that can reach any depth (**) reads the
// container it enters whole, so no text is read more than twice.
type doc struct {
	nodes   []node
	kids    []int32
	stack   []int32
	scratch []byte
}

// node is one value of a doc.
type node struct {
	kind byte   // '{', '[' or 0 for a scalar
	esc  bool   // key holds escapes
	lazy bool   // a container not read yet: raw is its text
	key  []byte // as a member: its name as sent, between the quotes
	made string // as a member an edit made: its name
	raw  []byte // a scalar's JSON text, or a lazy container's
	kids []int32
}

// maxDepth bounds the nesting of a document read for editing.
const maxDepth = 512

// SyntaxError is a document that is not JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("at byte %d: %s", e.Offset, e.Msg) }

// reset empties d for another document, keeping its memory.
func (d *doc) reset() {
	clear(d.nodes) // drop the references to the last document's bytes
	d.nodes, d.kids, d.stack = d.nodes[:0], d.kids[:0], d.stack[:0]
}

// parse reads one JSON document (RFC 8259, as encoding/json accepts it)
// into d and returns its root. b must not change while d is used.
func (d *doc) parse(b []byte) (int32, error) {
	return d.read(b, 1)
}

// read reads b, making nodes of the containers less than eager deep
// (the root is at depth 0).
func (d *doc) read(b []byte, eager int) (int32, error) {
	p := parser{b: b, d: d, eager: eager}
	p.ws()
	root, err := p.value(0)
	if err != nil {
		return -1, err
	}
	p.ws()
	if p.i != len(b) {
		return -1, p.fail("data after the document")
	}
	return root, nil
}

type parser struct {
	b        []byte
	i        int
	d        *doc
	eager    int  // containers at this depth or deeper are kept as text
	skipping bool // validating a lazy container: no nodes
}

// expand reads lazy container i's values into nodes (its own containers
// stay lazy; all with whole).
func (d *doc) expand(i int32, whole bool) {
	if i < 0 || !d.nodes[i].lazy {
		return
	}
	eager := 1
	if whole {
		eager = maxDepth + 1
	}
	// the text was validated when the document was read
	if r, err := d.read(d.nodes[i].raw, eager); err == nil {
		d.nodes[i].kids, d.nodes[i].lazy, d.nodes[i].raw = d.nodes[r].kids, false, nil
	}
}

func (p *parser) ws()                   { p.i = jsonlex.Space(p.b, p.i) }
func (p *parser) fail(msg string) error { return &SyntaxError{Offset: p.i, Msg: msg} }
func lexErr(e *jsonlex.Error) error     { return &SyntaxError{Offset: e.Offset, Msg: "expected " + e.Want} }
func (p *parser) at(c byte) bool        { return p.i < len(p.b) && p.b[p.i] == c }

// add appends a node to the slab and returns its index.
func (d *doc) add(n node) int32 {
	d.nodes = append(d.nodes, n)
	return int32(len(d.nodes) - 1)
}

func (p *parser) scalar(end int) int32 {
	start := p.i
	p.i = end
	if p.skipping {
		return -1
	}
	return p.d.add(node{raw: p.b[start:end:end]})
}

func (p *parser) value(depth int) (int32, error) {
	if p.i >= len(p.b) {
		return -1, p.fail("expected a value")
	}
	switch c := p.b[p.i]; {
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return -1, p.fail("nested too deep")
		}
		if p.skipping || depth < p.eager {
			return p.container(c, depth+1)
		}
		start := p.i
		p.skipping = true
		_, err := p.container(c, depth+1)
		p.skipping = false
		if err != nil {
			return -1, err
		}
		return p.d.add(node{kind: c, lazy: true, raw: p.b[start:p.i:p.i]}), nil
	case c == '"':
		end, _, err := jsonlex.String(p.b, p.i)
		if err != nil {
			return -1, lexErr(err)
		}
		return p.scalar(end), nil
	case c == '-' || '0' <= c && c <= '9':
		end, _, _, err := jsonlex.Number(p.b, p.i)
		if err != nil {
			return -1, lexErr(err)
		}
		return p.scalar(end), nil
	case c == 't' || c == 'f' || c == 'n':
		word := "null"
		switch c {
		case 't':
			word = "true"
		case 'f':
			word = "false"
		}
		end, err := jsonlex.Literal(p.b, p.i, word)
		if err != nil {
			return -1, lexErr(err)
		}
		return p.scalar(end), nil
	}
	return -1, p.fail("expected a value")
}

func (p *parser) container(open byte, depth int) (int32, error) {
	d := p.d
	self := int32(-1)
	if !p.skipping {
		self = d.add(node{kind: open})
	}
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	base := len(d.stack)
	p.i++
	p.ws()
	if p.at(closer) {
		p.i++
		return self, nil
	}
	for {
		var key []byte
		var esc bool
		if open == '{' {
			if !p.at('"') {
				return -1, p.fail("expected a member name")
			}
			end, e, err := jsonlex.String(p.b, p.i)
			if err != nil {
				return -1, lexErr(err)
			}
			key, esc = p.b[p.i+1:end-1:end-1], e
			p.i = end
			p.ws()
			if !p.at(':') {
				return -1, p.fail("expected :")
			}
			p.i++
			p.ws()
		}
		v, err := p.value(depth)
		if err != nil {
			return -1, err
		}
		if !p.skipping {
			d.nodes[v].key, d.nodes[v].esc = key, esc
			d.stack = append(d.stack, v)
		}
		p.ws()
		switch {
		case p.at(','):
			p.i++
			p.ws()
		case p.at(closer):
			p.i++
			if p.skipping {
				return -1, nil
			}
			// the members move from the stack to one run of the slab
			k := len(d.kids)
			d.kids = append(d.kids, d.stack[base:]...)
			d.nodes[self].kids = d.kids[k:len(d.kids):len(d.kids)]
			d.stack = d.stack[:base]
			return self, nil
		default:
			return -1, p.fail(fmt.Sprintf("expected , or %c", closer))
		}
	}
}

// appendJSON appends node i's JSON text to dst.
func (d *doc) appendJSON(dst []byte, i int32) []byte {
	n := &d.nodes[i]
	switch {
	case n.lazy:
		return append(dst, n.raw...)
	case n.kind != 0:
		dst = append(dst, n.kind)
		for j, k := range n.kids {
			if j > 0 {
				dst = append(dst, ',')
			}
			if n.kind == '{' {
				m := &d.nodes[k]
				if m.made != "" {
					dst = appendString(dst, m.made)
				} else {
					dst = append(dst, '"')
					dst = append(dst, m.key...)
					dst = append(dst, '"')
				}
				dst = append(dst, ':')
			}
			dst = d.appendJSON(dst, k)
		}
		if n.kind == '{' {
			return append(dst, '}')
		}
		return append(dst, ']')
	}
	return append(dst, n.raw...)
}

// name returns member node i's name, unescaped (in d.scratch when it had
// escapes: valid until the next call).
func (d *doc) name(i int32) []byte {
	n := &d.nodes[i]
	switch {
	case n.made != "":
		d.scratch = append(d.scratch[:0], n.made...)
		return d.scratch
	case n.esc:
		d.scratch = jsonlex.Unescape(d.scratch[:0], n.key)
		return d.scratch
	}
	return n.key
}

// named reports whether member node i is called name.
func (d *doc) named(i int32, name string) bool {
	n := &d.nodes[i]
	switch {
	case n.made != "":
		return n.made == name
	case n.esc:
		return string(d.name(i)) == name
	}
	return string(n.key) == name
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
// A container's run is its own (its capacity ends where it does), so the
// run is filtered in place.
func (d *doc) remove(i int32, set *fieldpath.Set, st fieldpath.State) {
	if d.nodes[i].kind == 0 || st.Empty() {
		return
	}
	d.expand(i, set.Deep(st))
	kids, kind := d.nodes[i].kids, d.nodes[i].kind
	keep := kids[:0]
	for j, k := range kids {
		var next fieldpath.State
		if kind == '{' {
			next = set.Member(st, d.name(k))
		} else {
			next = set.Element(st, j)
		}
		if set.Matched(next) {
			continue
		}
		d.remove(k, set, next)
		keep = append(keep, k)
	}
	d.nodes[i].kids = keep
}

// PathError is an edit the document's shape does not allow: a step
// through a value that is not an object (or an array, for [N]).
type PathError struct {
	Path string
	Msg  string
}

func (e *PathError) Error() string { return fmt.Sprintf("field %s: %s", e.Path, e.Msg) }

// lastMember is the index in object o's kids of the member named name
// that a reader such as encoding/json takes (the last), or -1.
func (d *doc) lastMember(o int32, name string) int {
	d.expand(o, false)
	kids := d.nodes[o].kids
	for j := len(kids) - 1; j >= 0; j-- {
		if d.named(kids[j], name) {
			return j
		}
	}
	return -1
}

// lookupParent walks path's steps but the last; with create, missing
// objects on the way are made. It returns -1 when a step is missing.
func (d *doc) lookupParent(root int32, path []fieldpath.PathStep, name string, create bool) (int32, error) {
	n := root
	for _, sp := range path[:len(path)-1] {
		next := int32(-1)
		d.expand(n, false)
		switch kids := d.nodes[n].kids; {
		case sp.IsIndex:
			if d.nodes[n].kind != '[' {
				return -1, &PathError{name, "a step goes through a value that is not an array"}
			}
			if sp.Index < len(kids) {
				next = kids[sp.Index]
			}
		default:
			if d.nodes[n].kind != '{' {
				return -1, &PathError{name, "a step goes through a value that is not an object"}
			}
			if j := d.lastMember(n, sp.Name); j >= 0 {
				next = kids[j]
			} else if create {
				next = d.add(node{kind: '{', made: sp.Name})
				d.nodes[n].kids = append(kids, next)
			}
		}
		if next < 0 {
			return -1, nil
		}
		n = next
	}
	return n, nil
}

// setAt puts node v at path, creating objects on the way; a member of
// that name is replaced (and any duplicate of it dropped, so that every
// reader sees v). An element index past an array's end is a PathError.
func (d *doc) setAt(root int32, path []fieldpath.PathStep, name string, v int32) error {
	parent, err := d.lookupParent(root, path, name, true)
	if err != nil {
		return err
	}
	last := path[len(path)-1]
	d.expand(parent, false)
	if last.IsIndex {
		if parent < 0 || d.nodes[parent].kind != '[' || last.Index >= len(d.nodes[parent].kids) {
			return &PathError{name, "no such array element"}
		}
		d.nodes[parent].kids[last.Index] = v
		return nil
	}
	if d.nodes[parent].kind != '{' {
		return &PathError{name, "its parent is not an object"}
	}
	d.nodes[v].made, d.nodes[v].key, d.nodes[v].esc = last.Name, nil, false
	kids := d.nodes[parent].kids
	if d.lastMember(parent, last.Name) < 0 {
		d.nodes[parent].kids = append(kids, v)
		return nil
	}
	// the first member of the name keeps its place and takes v; the
	// others go
	out := kids[:0]
	seen := false
	for _, k := range kids {
		if d.named(k, last.Name) {
			if seen {
				continue
			}
			seen, k = true, v
		}
		out = append(out, k)
	}
	d.nodes[parent].kids = out
	return nil
}

// take removes the value at path from the document and returns it, or
// -1 when there is none.
func (d *doc) take(root int32, path []fieldpath.PathStep, name string) (int32, error) {
	parent, err := d.lookupParent(root, path, name, false)
	if err != nil || parent < 0 {
		return -1, err
	}
	last := path[len(path)-1]
	d.expand(parent, false)
	kids := d.nodes[parent].kids
	if last.IsIndex {
		if d.nodes[parent].kind != '[' || last.Index >= len(kids) {
			return -1, nil
		}
		v := kids[last.Index]
		d.nodes[parent].kids = slices.Delete(kids, last.Index, last.Index+1)
		return v, nil
	}
	if d.nodes[parent].kind != '{' {
		return -1, nil
	}
	j := d.lastMember(parent, last.Name)
	if j < 0 {
		return -1, nil
	}
	v := kids[j]
	d.nodes[parent].kids = slices.DeleteFunc(kids, func(k int32) bool { return d.named(k, last.Name) })
	return v, nil
}
