package graphqlop

import (
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/transform"
)

func TestCompile(t *testing.T) {
	ctx := transform.Context{Params: []string{"id"}}
	for _, tc := range []struct {
		name    string
		op      config.GraphQLOperation
		methods []string
		want    string // "" for none
	}{
		{name: "query", op: config.GraphQLOperation{Query: "query Q($id: ID!) { user(id: $id) { name } }", Variables: map[string]string{"id": "{{ params.id }}"}}},
		{name: "not graphql", op: config.GraphQLOperation{Query: "query {"}, want: "query: not a GraphQL document"},
		{name: "two operations", op: config.GraphQLOperation{Query: "query A { a } query B { b }"}, want: "operation_name: query has 2 operations"},
		{name: "named", op: config.GraphQLOperation{Query: "query A { a } query B { b }", OperationName: "B"}},
		{name: "no such operation", op: config.GraphQLOperation{Query: "query A { a }", OperationName: "C"}, want: "has no operation C"},
		{name: "mutation on GET", op: config.GraphQLOperation{Query: "mutation { a }"}, methods: []string{"GET"}, want: "the operation is a mutation"},
		{name: "mutation on any method", op: config.GraphQLOperation{Query: "mutation { a }"}, want: "the operation is a mutation"},
		{name: "mutation on POST", op: config.GraphQLOperation{Query: "mutation { a }"}, methods: []string{"POST"}},
		{name: "subscription", op: config.GraphQLOperation{Query: "subscription { a }"}, want: "a subscription streams"},
		{name: "undeclared variable", op: config.GraphQLOperation{Query: "{ a }", Variables: map[string]string{"x": "1"}}, want: "declares no variable $x"},
		{name: "required variable", op: config.GraphQLOperation{Query: "query($id: ID!) { a(id: $id) }"}, want: "needs $id (ID!)"},
		{name: "optional variable", op: config.GraphQLOperation{Query: "query($n: Int) { a(n: $n) }"}},
		{name: "set twice", op: config.GraphQLOperation{Query: "query($n: Int) { a(n: $n) }", Variables: map[string]string{"n": "1"}, VariablesJSON: map[string]string{"n": "1"}}, want: "set in variables too"},
		{name: "param not captured", op: config.GraphQLOperation{Query: "query($n: ID) { a(n: $n) }", Variables: map[string]string{"n": "{{ params.other }}"}}, want: "not every path pattern"},
		{name: "consumer on an anonymous route", op: config.GraphQLOperation{Query: "query($n: ID) { a(n: $n) }", Variables: map[string]string{"n": "{{ consumer.id }}"}}, want: "authenticates no one"},
		{name: "endpoint", op: config.GraphQLOperation{Query: "{ a }", Endpoint: "graphql"}, want: "endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := compile(&tc.op, ctx, tc.methods)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].path+": "+errs[0].msg, tc.want) {
				t.Fatalf("want %q, got %v", tc.want, errs)
			}
		})
	}
}
