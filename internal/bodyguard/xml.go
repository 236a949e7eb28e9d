package bodyguard

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// XMLLimits bound an XML body's structure; 0 means no limit. A DTD is
// never accepted, whatever the limits: no entity expansion (billion
// laughs) and no external entities (XXE) can reach an upstream parser.
type XMLLimits struct {
	MaxDepth      int
	MaxElements   int
	MaxAttributes int // per element
	MaxText       int // bytes of one text or attribute value
}

// xincludeSpaces are the XInclude namespaces: the recommendation's and
// the 2003 draft's, which libxml2 still honours.
var xincludeSpaces = []string{"http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude"}

// xinclude reports an element of XInclude (its namespace, as the decoder
// resolved the prefix).
func xinclude(space string) bool {
	for _, s := range xincludeSpaces {
		if strings.EqualFold(strings.TrimSpace(space), s) {
			return true
		}
	}
	return false
}

// CheckXML checks an XML document and reports the first violation, or
// nil. The location is an XPath-like path of the open elements, e.g.
// /order/items/item[3].
func CheckXML(body []byte, lim XMLLimits) *Violation {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	d.Entity = nil // only the five predefined entities
	var path []string
	var counts []map[string]int // children seen per open element, by name, for [n]
	elements, roots := 0, 0
	where := func() string {
		if len(path) == 0 {
			return "/"
		}
		return "/" + strings.Join(path, "/")
	}
	fail := func(format string, args ...any) *Violation {
		return &Violation{Pointer: where(), Message: fmt.Sprintf(format, args...)}
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if len(path) > 0 {
				return fail("malformed XML: the body ends inside <%s>", path[len(path)-1])
			}
			if roots == 0 {
				return fail("the body holds no XML element")
			}
			return nil
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return fail("malformed XML on line %d: %s", se.Line, se.Msg)
			}
			return fail("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			if d := strings.ToUpper(strings.TrimSpace(string(t))); strings.HasPrefix(d, "DOCTYPE") || strings.HasPrefix(d, "ENTITY") {
				return fail("a DTD (<!DOCTYPE ...>) is not accepted: it enables entity expansion and external entities")
			}
			name, _, _ := strings.Cut(strings.TrimSpace(string(t)), " ")
			return fail("an XML directive <!%.32s> is not accepted", name)
		case xml.StartElement:
			if xinclude(t.Name.Space) {
				return fail("XInclude (<xi:include>) is not accepted: like an external entity, it makes a parser read another file or URL into the document")
			}
			if len(path) == 0 {
				if roots++; roots > 1 {
					return fail("more than one root element")
				}
			}
			name := t.Name.Local
			if n := len(counts); n > 0 {
				counts[n-1][name]++
				if c := counts[n-1][name]; c > 1 {
					name += "[" + strconv.Itoa(c) + "]"
				}
			}
			path = append(path, name)
			counts = append(counts, map[string]int{})
			if elements++; lim.MaxElements > 0 && elements > lim.MaxElements {
				return fail("more than %d elements", lim.MaxElements)
			}
			if lim.MaxDepth > 0 && len(path) > lim.MaxDepth {
				return fail("nested deeper than %d levels", lim.MaxDepth)
			}
			if lim.MaxAttributes > 0 && len(t.Attr) > lim.MaxAttributes {
				return fail("element has more than %d attributes", lim.MaxAttributes)
			}
			for _, a := range t.Attr {
				if lim.MaxText > 0 && len(a.Value) > lim.MaxText {
					return fail("attribute %s is longer than %d bytes", a.Name.Local, lim.MaxText)
				}
			}
		case xml.EndElement: // Token matched it with its start
			path, counts = path[:len(path)-1], counts[:len(counts)-1]
		case xml.CharData:
			if len(path) == 0 && len(bytes.TrimSpace(t)) > 0 {
				return fail("text outside the root element")
			}
			if lim.MaxText > 0 && len(t) > lim.MaxText {
				return fail("text is longer than %d bytes", lim.MaxText)
			}
		}
	}
}
