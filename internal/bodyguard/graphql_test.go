package bodyguard

import (
	"strings"
	"testing"
)

func TestCheckGraphQL(t *testing.T) {
	lim := GraphQLLimits{MaxDepth: 4, MaxAliases: 3, MaxFields: 50, MaxCost: 200, MaxBatch: 2, MaxDirectives: 10}
	aliasBomb := "query {" + strings.Repeat("a1: me { id } a2: me { id } a3: me { id } a4: me { id }", 1) + "}"
	fragmentBomb := `query { ...A }
fragment A on Q { ...B ...B ...B ...B }
fragment B on Q { ...C ...C ...C ...C }
fragment C on Q { ...D ...D ...D ...D }
fragment D on Q { a b c d }`
	for _, tc := range []struct{ name, query, where, msg string }{
		{"good", `query Orders($n: Int) { orders(first: 10) { id total customer { email } } }`, "", ""},
		{"typename is fine", `{ me { __typename id } }`, "", ""},
		{"too deep", `{ a { b { c { d { e } } } } }`, "query.a.b.c.d.e", "nested deeper than 4"},
		{"alias bomb", aliasBomb, "query.me", "more than 3 aliases"},
		{"fragment bomb", fragmentBomb, "query", "more than 50 fields"},
		{"fragment cycle", "{ ...A } fragment A on Q { x ...B } fragment B on Q { ...A }", "query.x", ""},
		{"introspection", `{ __schema { types { name } } }`, "query.__schema", "introspection is not allowed"},
		{"type introspection", `{ __type(name: "User") { fields { name } } }`, "query.__type", "introspection"},
		{"cost", `{ users(first: 100) { friends(first: 10) { id } } }`, "query.users.friends.id", "cost passes 200"},
		{"malformed", `{ orders( }`, "", "malformed GraphQL"},
		{"a few directives", `query Q($a: Boolean!) @live { me @include(if: $a) { id @skip(if: false) } }`, "", ""},
		{"directive overloading", `{ me` + strings.Repeat(" @aa", 11) + ` { id } }`, "query.me", "more than 10 directives"},
		{"@include a thousand times", `{ me { id` + strings.Repeat(" @include(if: true)", 1000) + ` } }`, "query.me.id", "more than 10 directives"},
		{"directives multiplied by fragments", `{ ...A ...A ...A } fragment A on Q @x @y @z { id @w }`, "query", "more than 10 directives"},
		{"empty", ` `, "", "no query"},
	} {
		v := CheckGraphQL(tc.query, nil, lim)
		switch {
		case tc.name == "fragment cycle":
			if v == nil || !strings.Contains(v.Message, "spreads itself") {
				t.Errorf("%s: %v", tc.name, v)
			}
		case tc.msg == "" && v != nil:
			t.Errorf("%s: %v", tc.name, v)
		case tc.msg != "" && (v == nil || !strings.HasPrefix(v.Pointer, tc.where) || !strings.Contains(v.Message, tc.msg)):
			t.Errorf("%s: %v, want %s: %s", tc.name, v, tc.where, tc.msg)
		}
	}
	// Variables set page sizes too.
	if v := CheckGraphQL(`query($n: Int) { users(first: $n) { id name } }`, map[string]any{"n": float64(150)}, lim); v == nil || !strings.Contains(v.Message, "cost") {
		t.Errorf("a page size from a variable: %v", v)
	}
	// Introspection when allowed.
	if v := CheckGraphQL(`{ __schema { queryType { name } } }`, nil, GraphQLLimits{Introspection: true}); v != nil {
		t.Errorf("allowed introspection: %v", v)
	}
	// Batches.
	reqs, v := ParseGraphQLBody([]byte(`[{"query": "{ a }"}, {"query": "{ b }"}, {"query": "{ c }"}]`))
	if v != nil || CheckGraphQLBatch(reqs, lim) == nil {
		t.Errorf("a batch of 3 with a limit of 2 passed")
	}
	reqs, _ = ParseGraphQLBody([]byte(`[{"query": "{ a }"}, {"query": "{ __schema { types { name } } }"}]`))
	if v := CheckGraphQLBatch(reqs, lim); v == nil || !strings.HasPrefix(v.Pointer, "[1]") {
		t.Errorf("the second of a batch: %v", v)
	}
}

func FuzzCheckGraphQL(f *testing.F) {
	for _, s := range []string{`{ a { b } }`, `query Q($x: Int) { a(first: $x) { ...F } } fragment F on T { b }`, `{ ...A } fragment A on Q { ...A }`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_ = CheckGraphQL(q, nil, GraphQLLimits{MaxDepth: 10, MaxFields: 1000})
		_ = CheckGraphQL(q, nil, GraphQLLimits{})
	})
}
