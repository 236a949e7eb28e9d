// Package route compiles route match rules into a table whose lookup cost
// does not grow with the number of routes: a host map in front of one
// segment trie per host key, walked most specific first.
package route

import (
	"fmt"
	"strings"
)

// MaxParams bounds the {param} segments of one pattern.
const MaxParams = 16

// maxSegments bounds the segments of one pattern.
const maxSegments = 64

type segKind uint8

const (
	segStatic segKind = iota
	segParam
	segCatchAll
)

type segment struct {
	kind segKind
	text string // static text, or the param name
}

// Pattern is a parsed path pattern: /exact/segments, /{param}/ for one
// non-empty segment, and a final /** for zero or more segments.
type Pattern struct {
	Raw    string
	segs   []segment
	Params []string
}

// ParsePattern parses and checks a path pattern.
func ParsePattern(s string) (*Pattern, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("path pattern %q must start with /", s)
	}
	p := &Pattern{Raw: s}
	parts := strings.Split(s[1:], "/")
	if len(parts) > maxSegments {
		return nil, fmt.Errorf("path pattern %q has more than %d segments", s, maxSegments)
	}
	seen := map[string]bool{}
	for i, part := range parts {
		switch {
		case part == "**":
			if i != len(parts)-1 {
				return nil, fmt.Errorf("path pattern %q: ** may only be the last segment", s)
			}
			p.segs = append(p.segs, segment{kind: segCatchAll})
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			if !validName(name) {
				return nil, fmt.Errorf("path pattern %q: parameter name %q must be letters, digits and _", s, name)
			}
			if seen[name] {
				return nil, fmt.Errorf("path pattern %q: parameter {%s} appears twice", s, name)
			}
			seen[name] = true
			p.segs = append(p.segs, segment{kind: segParam, text: name})
			p.Params = append(p.Params, name)
		default:
			if strings.ContainsAny(part, "{}*") {
				return nil, fmt.Errorf("path pattern %q: segment %q mixes text with {param} or *; a parameter or ** must be a whole segment", s, part)
			}
			if part == "." || part == ".." {
				return nil, fmt.Errorf("path pattern %q: dot segments never match; requests with them are refused", s)
			}
			if part == "" && i != len(parts)-1 {
				return nil, fmt.Errorf("path pattern %q: empty segment (//)", s)
			}
			if strings.ContainsAny(part, "?#%") {
				return nil, fmt.Errorf("path pattern %q: segment %q must be plain decoded text (no ?, # or %%)", s, part)
			}
			p.segs = append(p.segs, segment{kind: segStatic, text: part})
		}
	}
	if len(p.Params) > MaxParams {
		return nil, fmt.Errorf("path pattern %q has more than %d parameters", s, MaxParams)
	}
	return p, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Match reports whether path (decoded, canonical, as the table sees it)
// matches the pattern, by the same rules as a table holding only it.
func (p *Pattern) Match(path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	rest := path[1:]
	for i, s := range p.segs {
		if s.kind == segCatchAll {
			return true
		}
		seg, tail, more := strings.Cut(rest, "/")
		switch {
		case s.kind == segStatic && seg != s.text:
			return false
		case s.kind == segParam && seg == "":
			return false
		}
		if !more {
			// The path ends here: the pattern must too, or go on with
			// only a ** (zero segments).
			left := p.segs[i+1:]
			return len(left) == 0 || len(left) == 1 && left[0].kind == segCatchAll
		}
		rest = tail
	}
	return false // the path is longer than the pattern
}
