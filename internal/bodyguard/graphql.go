package bodyguard

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// GraphQLLimits bound what one GraphQL request may ask for; 0 means no
// limit (MaxTokens 0 means the default).
type GraphQLLimits struct {
	MaxDepth      int // field nesting
	MaxAliases    int
	MaxFields     int // fields selected, fragments expanded
	MaxCost       int // fields weighted by the page sizes (first, last, limit) above them
	MaxBatch      int // operations in one batched request
	MaxTokens     int // lexer tokens: bounds parsing work
	MaxDirectives int // directives, fragments expanded
	Introspection bool
}

// DefaultGraphQLTokens bounds parsing when MaxTokens is 0.
const DefaultGraphQLTokens = 15000

// hardFieldCap bounds the walk whatever the limits.
const hardFieldCap = 100_000

// GraphQLRequest is one operation as sent over HTTP.
type GraphQLRequest struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	// A persisted operation's id, in one of the forms clients send it.
	ID         string `json:"id"`
	DocumentID string `json:"documentId"`
	Extensions struct {
		PersistedQuery *struct {
			SHA256Hash string `json:"sha256Hash"`
		} `json:"persistedQuery"`
	} `json:"extensions"`
}

// ParseGraphQLBody reads a POST body: one request object, or a batch
// (an array of them).
func ParseGraphQLBody(body []byte) ([]GraphQLRequest, *Violation) {
	trimmed := strings.TrimLeft(string(body), " \t\r\n")
	if strings.HasPrefix(trimmed, "[") {
		var batch []GraphQLRequest
		if err := json.Unmarshal(body, &batch); err != nil {
			return nil, &Violation{Message: "a batch must be a JSON array of {query, variables, operationName} objects"}
		}
		return batch, nil
	}
	var one GraphQLRequest
	if err := json.Unmarshal(body, &one); err != nil {
		return nil, &Violation{Message: "the body must be a JSON object {query, variables, operationName}"}
	}
	return []GraphQLRequest{one}, nil
}

// CheckGraphQLBatch checks a batch's size, then each request.
func CheckGraphQLBatch(reqs []GraphQLRequest, lim GraphQLLimits) *Violation {
	if len(reqs) == 0 {
		return &Violation{Message: "an empty batch"}
	}
	if lim.MaxBatch > 0 && len(reqs) > lim.MaxBatch {
		return &Violation{Message: fmt.Sprintf("a batch of %d operations; at most %d", len(reqs), lim.MaxBatch)}
	}
	for i, q := range reqs {
		if v := CheckGraphQL(q.Query, q.Variables, lim); v != nil {
			if len(reqs) > 1 {
				v.Pointer = "[" + strconv.Itoa(i) + "]" + v.Pointer
			}
			return v
		}
	}
	return nil
}

// CheckGraphQL checks one query document against the limits: parsed
// with a token limit, then walked once per operation with fragments
// expanded, stopping as soon as a limit is passed, so a fragment bomb
// costs at most MaxFields steps.
func CheckGraphQL(query string, vars map[string]any, lim GraphQLLimits) *Violation {
	_, v := checkGraphQL(query, vars, lim)
	return v
}

// checkGraphQL is CheckGraphQL, with the parsed document when it passes.
func checkGraphQL(query string, vars map[string]any, lim GraphQLLimits) (*ast.QueryDocument, *Violation) {
	if strings.TrimSpace(query) == "" {
		return nil, &Violation{Message: "no query: send the GraphQL document in query"}
	}
	tokens := lim.MaxTokens
	if tokens <= 0 {
		tokens = DefaultGraphQLTokens
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, tokens)
	if err != nil {
		return nil, &Violation{Message: "malformed GraphQL: " + err.Error()}
	}
	w := &walker{doc: doc, lim: lim, vars: vars, active: map[string]bool{}}
	for _, op := range doc.Operations {
		name := string(op.Operation)
		if op.Name != "" {
			name += " " + op.Name
		}
		w.path = []string{name}
		if v := w.directives(len(op.Directives)); v != nil {
			return nil, v
		}
		for _, vd := range op.VariableDefinitions {
			if v := w.directives(len(vd.Directives)); v != nil {
				return nil, v
			}
		}
		if v := w.selections(op.SelectionSet, 1, 1); v != nil {
			return nil, v
		}
	}
	return doc, nil
}

// directives counts n more directives (directive overloading: @aa @aa
// ... or @include repeated a thousand times on one field).
func (w *walker) directives(n int) *Violation {
	if w.dirs += n; w.lim.MaxDirectives > 0 && w.dirs > w.lim.MaxDirectives {
		return w.fail("more than %d directives (fragments expanded)", w.lim.MaxDirectives)
	}
	return nil
}

type walker struct {
	doc                   *ast.QueryDocument
	lim                   GraphQLLimits
	vars                  map[string]any
	path                  []string
	active                map[string]bool // fragments being expanded: a cycle is refused
	fields, aliases, cost int
	dirs                  int
}

func (w *walker) fail(format string, args ...any) *Violation {
	return &Violation{Pointer: strings.Join(w.path, "."), Message: fmt.Sprintf(format, args...)}
}

// selections walks a selection set at depth, each field weighing mult.
func (w *walker) selections(set ast.SelectionSet, depth, mult int) *Violation {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if v := w.field(s, depth, mult); v != nil {
				return v
			}
		case *ast.InlineFragment:
			if v := w.directives(len(s.Directives)); v != nil {
				return v
			}
			if v := w.selections(s.SelectionSet, depth, mult); v != nil {
				return v
			}
		case *ast.FragmentSpread:
			f := w.doc.Fragments.ForName(s.Name)
			if f == nil {
				return w.fail("unknown fragment %s", s.Name)
			}
			if w.active[s.Name] {
				return w.fail("fragment %s spreads itself", s.Name)
			}
			if v := w.directives(len(s.Directives) + len(f.Directives)); v != nil {
				return v
			}
			w.active[s.Name] = true
			v := w.selections(f.SelectionSet, depth, mult)
			delete(w.active, s.Name)
			if v != nil {
				return v
			}
		}
	}
	return nil
}

func (w *walker) field(f *ast.Field, depth, mult int) *Violation {
	w.path = append(w.path, f.Name)
	defer func() { w.path = w.path[:len(w.path)-1] }()
	if !w.lim.Introspection && (f.Name == "__schema" || f.Name == "__type") {
		return w.fail("introspection is not allowed here")
	}
	if v := w.directives(len(f.Directives)); v != nil {
		return v
	}
	if w.lim.MaxDepth > 0 && depth > w.lim.MaxDepth {
		return w.fail("nested deeper than %d fields", w.lim.MaxDepth)
	}
	if w.fields++; w.lim.MaxFields > 0 && w.fields > w.lim.MaxFields {
		return w.fail("more than %d fields (fragments expanded)", w.lim.MaxFields)
	}
	if w.fields > hardFieldCap { // without a limit, a fragment bomb still ends here
		return w.fail("more than %d fields (fragments expanded)", hardFieldCap)
	}
	if f.Alias != "" && f.Alias != f.Name {
		if w.aliases++; w.lim.MaxAliases > 0 && w.aliases > w.lim.MaxAliases {
			return w.fail("more than %d aliases", w.lim.MaxAliases)
		}
	}
	if w.cost += mult; w.lim.MaxCost > 0 && w.cost > w.lim.MaxCost {
		return w.fail("the query's cost passes %d (each field weighs the page sizes first, last or limit above it)", w.lim.MaxCost)
	}
	if len(f.SelectionSet) == 0 {
		return nil
	}
	return w.selections(f.SelectionSet, depth+1, min(mult*w.pageSize(f), 1<<30))
}

// pageSize is the list size a field asks for: its first, last or limit
// argument, as a literal or a variable; 1 when it has none.
func (w *walker) pageSize(f *ast.Field) int {
	for _, a := range f.Arguments {
		if a.Name != "first" && a.Name != "last" && a.Name != "limit" || a.Value == nil {
			continue
		}
		var n int64
		switch a.Value.Kind {
		case ast.IntValue:
			n, _ = strconv.ParseInt(a.Value.Raw, 10, 64)
		case ast.Variable:
			switch v := w.vars[a.Value.Raw].(type) {
			case float64:
				n = int64(v)
			case json.Number:
				n, _ = v.Int64()
			}
		}
		if n > 1 {
			return int(min(n, 1<<20))
		}
	}
	return 1
}
