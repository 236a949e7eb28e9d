package transform

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A Template is text with holes for values of the request and its
// consumer:
//
//	{{ consumer.id }}
//	{{ claims.tenant | default "public" }}
//	v={{ params.id }}
//
// A hole names one value; a value the request does not have is an error
// at run time (the stage fails closed) unless the hole declares a
// default. "{{" in literal text is written {{ "{{" }}.
type Template struct {
	src   string
	parts []part
}

// part is literal text or a hole.
type part struct {
	text string
	ref  *Ref
}

// Source is where a hole's value comes from.
type Source uint8

const (
	SourceConsumer Source = iota + 1 // consumer.id, .authenticator, .method, .key_id, .roles, .scopes, .attributes.NAME
	SourceClaims                     // claims.NAME[.NAME...]: a token claim
	SourceParams                     // params.NAME: a path parameter of the matched pattern
	SourceHeader                     // header.NAME: the client's header, values joined by ", "
	SourceQuery                      // query.NAME: the client's query parameter (once)
	SourceRequest                    // request.method, .path, .host, .id
	SourceClient                     // client.ip
	SourceRoute                      // route.name
)

var sourceNames = map[string]Source{"consumer": SourceConsumer, "claims": SourceClaims, "params": SourceParams,
	"header": SourceHeader, "query": SourceQuery, "request": SourceRequest, "client": SourceClient, "route": SourceRoute}

// fixed are the names a source with a closed set of values has.
var fixed = map[Source][]string{
	SourceConsumer: {"id", "authenticator", "method", "key_id", "roles", "scopes"},
	SourceRequest:  {"method", "path", "host", "id"},
	SourceClient:   {"ip"},
	SourceRoute:    {"name"},
}

// Ref is one hole: a value and its default.
type Ref struct {
	Source  Source
	Name    string   // after the source: "id", "tenant", "X-Tenant", "attributes.team"
	Path    []string // Name split at dots, for claims and consumer attributes
	Default *string
	Col     int // of the hole in the template, from 1
}

// String is the hole as written, canonically.
func (r *Ref) String() string {
	for name, s := range sourceNames {
		if s == r.Source {
			return name + "." + r.Name
		}
	}
	return r.Name
}

// Parse parses a template. Its errors give the column of the hole.
func Parse(src string) (*Template, error) {
	t := &Template{src: src}
	rest, col := src, 1
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if j := strings.Index(rest, "}}"); j >= 0 {
				return nil, fmt.Errorf("column %d: }} without {{ (write {{ \"}}\" }} for the text)", col+j)
			}
			t.parts = append(t.parts, part{text: rest})
			break
		}
		if j := strings.Index(rest[:i], "}}"); j >= 0 {
			return nil, fmt.Errorf("column %d: }} without {{ (write {{ \"}}\" }} for the text)", col+j)
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: rest[:i]})
		}
		end := closing(rest[i+2:])
		if end < 0 {
			return nil, fmt.Errorf("column %d: {{ is not closed by }}", col+i)
		}
		hole := rest[i+2 : i+2+end]
		p, err := parseHole(hole, col+i)
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, p)
		n := i + 2 + end + 2
		col += n
		rest = rest[n:]
	}
	return t, nil
}

// closing finds the }} that ends a hole, outside a quoted string.
func closing(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch {
		case quoted && s[i] == '\\':
			i++
		case s[i] == '"':
			quoted = !quoted
		case !quoted && strings.HasPrefix(s[i:], "}}"):
			return i
		}
	}
	return -1
}

// parseHole parses what is between {{ and }}: a quoted string (literal
// text), or a value with an optional | default "text".
func parseHole(hole string, col int) (part, error) {
	expr := strings.TrimSpace(hole)
	if strings.HasPrefix(expr, `"`) {
		s, err := strconv.Unquote(expr)
		if err != nil {
			return part{}, fmt.Errorf("column %d: %s is not a quoted string", col, expr)
		}
		return part{text: s}, nil
	}
	name, def, hasDefault := strings.Cut(expr, "|")
	name = strings.TrimSpace(name)
	ref := &Ref{Col: col}
	if hasDefault {
		d := strings.TrimSpace(def)
		lit, ok := strings.CutPrefix(d, "default")
		if !ok || !strings.HasPrefix(strings.TrimSpace(lit), `"`) {
			return part{}, fmt.Errorf("column %d: after | only default \"text\" is allowed, found %q", col, d)
		}
		s, err := strconv.Unquote(strings.TrimSpace(lit))
		if err != nil {
			return part{}, fmt.Errorf("column %d: the default %s is not a quoted string", col, strings.TrimSpace(lit))
		}
		ref.Default = &s
	}
	srcName, rest, ok := strings.Cut(name, ".")
	src, known := sourceNames[srcName]
	if !known || !ok || rest == "" {
		return part{}, fmt.Errorf("column %d: %q is not a value; use consumer.*, claims.*, params.*, header.*, query.*, request.*, client.ip or route.name", col, name)
	}
	ref.Source, ref.Name = src, rest
	if names, ok := fixed[src]; ok && !slices.Contains(names, rest) && !(src == SourceConsumer && strings.HasPrefix(rest, "attributes.")) {
		return part{}, fmt.Errorf("column %d: %s.%s is not a value; %s has %s", col, srcName, rest, srcName, strings.Join(names, ", ")+attributesHint(src))
	}
	if src == SourceClaims || src == SourceConsumer {
		ref.Path = strings.Split(rest, ".")
		if slices.Contains(ref.Path, "") {
			return part{}, fmt.Errorf("column %d: %q has an empty name", col, name)
		}
	}
	if src == SourceHeader && !validToken(rest) {
		return part{}, fmt.Errorf("column %d: %q is not a header name", col, rest)
	}
	return part{ref: ref}, nil
}

func attributesHint(s Source) string {
	if s == SourceConsumer {
		return ", attributes.NAME"
	}
	return ""
}

// validToken reports whether s is an HTTP token (a field name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Refs returns the template's holes.
func (t *Template) Refs() []*Ref {
	var refs []*Ref
	for _, p := range t.parts {
		if p.ref != nil {
			refs = append(refs, p.ref)
		}
	}
	return refs
}

// bind fills the holes of source src with the text v, known at load.
func (t *Template) bind(src Source, name, v string) {
	for i, p := range t.parts {
		if p.ref != nil && p.ref.Source == src && p.ref.Name == name {
			t.parts[i] = part{text: v}
		}
	}
}

// Constant reports whether the template has no holes, and its text.
func (t *Template) Constant() (string, bool) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref != nil {
			return "", false
		}
		b.WriteString(p.text)
	}
	return b.String(), true
}

// Lookup finds a hole's value for one request: a string, or for claims
// any JSON value; ok false when the request has none.
type Lookup func(r *Ref) (v any, ok bool)

// MissingError is a hole whose value the request does not have.
type MissingError struct{ Ref *Ref }

func (e *MissingError) Error() string { return "no value for " + e.Ref.String() }

// Render appends the template's text for one request to dst: holes get
// their value as text (a claim that is not a string as its JSON).
func (t *Template) Render(dst []byte, look Lookup) ([]byte, error) {
	return t.render(dst, look, false)
}

// render appends the literal text and each hole's value: as JSON with
// asJSON, else a string as it is and anything else as JSON.
func (t *Template) render(dst []byte, look Lookup, asJSON bool) ([]byte, error) {
	for _, p := range t.parts {
		if p.ref == nil {
			dst = append(dst, p.text...)
			continue
		}
		v, err := value(p.ref, look)
		if err != nil {
			return nil, err
		}
		if s, ok := v.(string); ok && !asJSON {
			dst = append(dst, s...)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		dst = append(dst, b...)
	}
	return dst, nil
}

// RenderString appends the template's text to dst as a JSON string.
func (t *Template) RenderString(dst []byte, look Lookup) ([]byte, error) {
	start := len(dst)
	dst, err := t.Render(dst, look)
	if err != nil {
		return nil, err
	}
	if !needsEscape(dst[start:]) {
		dst = append(dst, 0, 0)
		copy(dst[start+1:], dst[start:len(dst)-2])
		dst[start], dst[len(dst)-1] = '"', '"'
		return dst, nil
	}
	text := string(dst[start:])
	return appendString(dst[:start], text), nil
}

// needsEscape reports whether text is not written as it is in a JSON
// string: a quote, a backslash, a control character or a byte that is
// not ASCII (checked as UTF-8 by appendString).
func needsEscape(text []byte) bool {
	for _, c := range text {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return true
		}
	}
	return false
}

// RenderJSON appends JSON text to dst: the template's literal text as
// written, each hole's value encoded as JSON (a string quoted, a claim
// keeping its type). The caller checks the result is valid JSON.
func (t *Template) RenderJSON(dst []byte, look Lookup) ([]byte, error) {
	return t.render(dst, look, true)
}

func value(r *Ref, look Lookup) (any, error) {
	if v, ok := look(r); ok {
		return v, nil
	}
	if r.Default != nil {
		return *r.Default, nil
	}
	return nil, &MissingError{Ref: r}
}
