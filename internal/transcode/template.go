package transcode

import (
	"fmt"
	"net/url"
	"strings"
)

// template is a google.api.http path template:
//
//	Template = "/" Segments [ Verb ] ;
//	Segments = Segment { "/" Segment } ;
//	Segment  = "*" | "**" | LITERAL | Variable ;
//	Variable = "{" FieldPath [ "=" Segments ] "}" ;
//	Verb     = ":" LITERAL ;
//
// compiled to a flat list of segments, each variable marking the run of
// segments it captures.
type template struct {
	src  string
	segs []segment
	vars []variable
	verb string
}

type segKind uint8

const (
	segLiteral segKind = iota
	segOne             // *: one segment
	segRest            // **: the rest of the path, possibly empty
)

type segment struct {
	kind    segKind
	literal string
}

// variable captures segs[start:end] into the field at path.
type variable struct {
	path       []string
	start, end int
}

// parseTemplate parses a path template.
func parseTemplate(src string) (*template, error) {
	t := &template{src: src}
	if !strings.HasPrefix(src, "/") {
		return nil, fmt.Errorf("path template %q must start with /", src)
	}
	rest := src[1:]
	// the verb is a ":" after the last segment, outside a variable
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.ContainsAny(rest[i:], "/}") {
		t.verb, rest = rest[i+1:], rest[:i]
		if t.verb == "" || !literalText(t.verb) {
			return nil, fmt.Errorf("path template %q: a colon with no verb after it", src)
		}
	}
	for rest != "" {
		var seg string
		if strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return nil, fmt.Errorf("path template %q: { without }", src)
			}
			field, pattern, hasPattern := strings.Cut(rest[1:end], "=")
			if !hasPattern {
				pattern = "*"
			}
			if field == "" || strings.ContainsAny(field, "{}/*") {
				return nil, fmt.Errorf("path template %q: %q is not a field path", src, field)
			}
			for _, v := range t.vars {
				if strings.Join(v.path, ".") == field {
					return nil, fmt.Errorf("path template %q binds %s twice", src, field)
				}
			}
			v := variable{path: strings.Split(field, "."), start: len(t.segs)}
			for _, p := range strings.Split(pattern, "/") {
				s, err := parseSegment(src, p, false)
				if err != nil {
					return nil, err
				}
				t.segs = append(t.segs, s)
			}
			v.end = len(t.segs)
			t.vars = append(t.vars, v)
			rest = rest[end+1:]
		} else {
			var more bool
			seg, rest, more = strings.Cut(rest, "/")
			s, err := parseSegment(src, seg, true)
			if err != nil {
				return nil, err
			}
			t.segs = append(t.segs, s)
			if more && rest == "" {
				return nil, fmt.Errorf("path template %q ends with /", src)
			}
			continue
		}
		if rest == "" {
			break
		}
		if !strings.HasPrefix(rest, "/") {
			return nil, fmt.Errorf("path template %q: a variable must be a whole segment", src)
		}
		rest = rest[1:]
		if rest == "" {
			return nil, fmt.Errorf("path template %q ends with /", src)
		}
	}
	for i, s := range t.segs {
		if s.kind == segRest && i != len(t.segs)-1 {
			return nil, fmt.Errorf("path template %q: ** must be the last segment", src)
		}
	}
	return t, nil
}

func parseSegment(src, s string, outside bool) (segment, error) {
	switch {
	case s == "*":
		return segment{kind: segOne}, nil
	case s == "**":
		return segment{kind: segRest}, nil
	case s == "" || strings.ContainsAny(s, "{}*=") || outside && strings.Contains(s, ":") || !literalText(s):
		return segment{}, fmt.Errorf("path template %q: %q is not a segment", src, s)
	}
	return segment{literal: s}, nil
}

// literalText reports whether s is text a path segment carries as it is
// (RFC 3986 pchar, no percent-escape): what the matcher compares with
// the path as sent.
func literalText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0) {
			return false
		}
	}
	return true
}

// match matches a request path (as sent, escaped) against t and returns
// each variable's value, in t.vars order.
func (t *template) match(escapedPath string) ([]string, bool) {
	if !strings.HasPrefix(escapedPath, "/") {
		return nil, false
	}
	p := escapedPath[1:]
	if t.verb != "" {
		var ok bool
		if p, ok = strings.CutSuffix(p, ":"+t.verb); !ok {
			return nil, false
		}
	} else if i := strings.LastIndexByte(p, '/'); strings.Contains(p[i+1:], ":") {
		// a custom verb this template does not have
		return nil, false
	}
	if len(t.segs) == 0 {
		return []string{}, p == "" // the template "/"
	}
	raw := strings.Split(p, "/")
	if len(t.segs) > 0 && t.segs[len(t.segs)-1].kind == segRest {
		if len(raw) < len(t.segs)-1 {
			return nil, false
		}
	} else if len(raw) != len(t.segs) {
		return nil, false
	}
	for i, s := range t.segs {
		switch s.kind {
		case segLiteral:
			if raw[i] != s.literal {
				return nil, false
			}
		case segOne:
			if raw[i] == "" {
				return nil, false
			}
		}
	}
	vals := make([]string, len(t.vars))
	for i, v := range t.vars {
		end := v.end
		if end == len(t.segs) && t.segs[end-1].kind == segRest {
			end = len(raw)
		}
		parts := raw[v.start:end]
		single := end-v.start == 1 && t.segs[v.start].kind != segRest
		dec := make([]string, len(parts))
		for j, part := range parts {
			// a single-segment variable decodes every escape; a
			// multi-segment one keeps %2F escaped, as the spec says
			var err error
			if single {
				dec[j], err = url.PathUnescape(part)
			} else {
				dec[j], err = url.PathUnescape(strings.ReplaceAll(part, "%2F", "%252F"))
			}
			if err != nil {
				return nil, false
			}
		}
		vals[i] = strings.Join(dec, "/")
	}
	return vals, true
}
