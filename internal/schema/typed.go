package schema

import (
	"maps"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/guard"
)

// TrustedExtension marks a string schema with a pattern as one the WAF
// need not read (x-rampart-waf: trusted): the operator vouches that the
// pattern admits nothing a rule could flag. Without it a patterned string
// stays inspected, since patterns are easy to write loosely.
const TrustedExtension = "x-rampart-waf"

// typedFormats are string formats whose values, once validated (see
// formats), cannot carry an injection: digits, hex digits, dashes, dots,
// colons, a T and a zone.
var typedFormats = []string{"uuid", "date", "date-time", "ipv4", "ipv6"}

// Typed lists the fields of a JSON body that validating against s proves
// to be of a type no injection fits: integers, numbers, booleans, enum
// members (the operator's own values), strings of a format such as uuid
// or date-time, and strings with a pattern the operator marked trusted.
// What is left, strings without such a format and anything the schema
// does not describe (additionalProperties), is what the WAF must read.
// Patterns are fieldpath patterns (lines[*].quantity); a schema that
// proves the whole document typed gives "**"-free patterns only, never
// the document itself.
func Typed(s *openapi3.SchemaRef) []string {
	var out []string
	typedFields(s, "", 0, &out)
	slices.Sort(out)
	return out
}

func typedFields(ref *openapi3.SchemaRef, prefix string, depth int, out *[]string) {
	if ref == nil || ref.Value == nil || depth > 16 {
		return
	}
	s := ref.Value
	switch {
	case s.Type.Is("object") || (s.Type == nil && len(s.Properties) > 0):
		for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
			p := s.Properties[name]
			path := member(prefix, name)
			if provenTyped(p) {
				*out = append(*out, path)
				continue
			}
			typedFields(p, path, depth+1, out)
		}
	case s.Type.Is("array") && s.Items != nil:
		path := prefix + "[*]"
		if provenTyped(s.Items) {
			*out = append(*out, path)
			return
		}
		typedFields(s.Items, path, depth+1, out)
	}
}

// provenTyped reports whether every value ref admits is of a type no
// injection fits, once validated.
func provenTyped(ref *openapi3.SchemaRef) bool {
	if ref == nil || ref.Value == nil {
		return false
	}
	s := ref.Value
	if len(s.OneOf)+len(s.AnyOf)+len(s.AllOf) > 0 || s.Not != nil || s.Type == nil || len(s.Type.Slice()) != 1 {
		return false // a union or no single type: not proven (conservative)
	}
	if len(s.Enum) > 0 {
		return true // the operator's own values
	}
	switch {
	case s.Type.Is("integer"), s.Type.Is("number"), s.Type.Is("boolean"):
		return true
	case s.Type.Is("string"):
		if slices.Contains(typedFormats, s.Format) {
			return true
		}
		return s.Pattern != "" && s.Extensions[TrustedExtension] == "trusted"
	}
	return false
}

// member is the fieldpath pattern of member name under prefix.
func member(prefix, name string) string {
	step := name
	if strings.ContainsAny(name, `.[]"*\`) || name == "" {
		step = `["` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"]`
	}
	switch {
	case prefix == "":
		return step
	case strings.HasPrefix(step, "["):
		return prefix + step
	default:
		return prefix + "." + step
	}
}

// typedSet compiles the typed fields of a JSON media type's schema, or
// nil when there are none.
func typedSet(m *openapi3.MediaType) *fieldpath.Set {
	if m == nil {
		return nil
	}
	fields := Typed(m.Schema)
	if len(fields) == 0 {
		return nil
	}
	set, err := fieldpath.Compile(fields)
	if err != nil {
		return nil // a name fieldpath cannot express: the WAF reads everything
	}
	return set
}

// TypedOperation is one documented operation with a JSON request body
// and the fields of it the WAF need not read (Typed).
type TypedOperation struct {
	Method, Path string
	Fields       []string
}

// TypedOperations lists, for `validate --explain`, the operations of doc
// whose JSON request bodies have typed fields, in path then method order.
func TypedOperations(doc *openapi3.T) []TypedOperation {
	var out []TypedOperation
	if doc == nil || doc.Paths == nil {
		return nil
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Find(path)
		if item == nil {
			continue
		}
		ops := item.Operations()
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			op := ops[method]
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			for _, mt := range slices.Sorted(maps.Keys(op.RequestBody.Value.Content)) {
				if !guard.IsJSON(mt) {
					continue
				}
				if fields := Typed(op.RequestBody.Value.Content[mt].Schema); len(fields) > 0 {
					out = append(out, TypedOperation{Method: method, Path: path, Fields: fields})
				}
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b TypedOperation) int { return strings.Compare(a.Path, b.Path) })
	return out
}
