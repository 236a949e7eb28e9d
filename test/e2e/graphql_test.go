package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestGraphQLGuards: a GraphQL endpoint refuses depth and alias bombs,
// fragment bombs, oversized batches and introspection, over POST JSON,
// application/graphql and GET, and passes ordinary queries.
func TestGraphQLGuards(t *testing.T) {
	up := startUpstream(t, "gql")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  gql: {targets: [{url: %s}]}
policies:
  graph:
    authenticate: []
    validate:
      content_types: [application/json, application/graphql]
      graphql: {max_depth: 5, max_aliases: 3, max_fields: 100, max_batch: 2}
routes:
  - {name: graphql, match: {paths: ["/graphql"], methods: [GET, POST]}, upstream: gql, policy: graph}
`, up.url()))
	post := func(ct, body string) response {
		return do(t, client, "POST", g.url("/graphql"), strings.NewReader(body), map[string]string{"Content-Type": ct})
	}
	ok := `{"query": "query Orders($n: Int) { orders(first: $n) { id total customer { email } } }", "variables": {"n": 20}}`
	if r := post("application/json", ok); r.status != 200 || echoOf(t, r).BodyBytes != int64(len(ok)) {
		t.Fatalf("an ordinary query: %d %s", r.status, r.body)
	}
	if r := post("application/graphql", "{ me { id } }"); r.status != 200 {
		t.Fatalf("application/graphql: %d", r.status)
	}
	if r := get(t, g.url("/graphql?query="+url.QueryEscape("{ me { id } }"))); r.status != 200 {
		t.Fatalf("GET: %d", r.status)
	}
	fragmentBomb := `query { ...A } fragment A on Q { ...B ...B ...B ...B ...B } fragment B on Q { ...C ...C ...C ...C ...C } ` +
		`fragment C on Q { ...D ...D ...D ...D ...D } fragment D on Q { a b c d e }`
	for _, tc := range []struct{ name, ct, body, msg string }{
		{"depth bomb", "application/graphql", "{ a { b { c { d { e { f } } } } } }", "nested deeper than 5"},
		{"alias bomb", "application/graphql", "{ a: me { id } b: me { id } c: me { id } d: me { id } }", "more than 3 aliases"},
		{"fragment bomb", "application/graphql", fragmentBomb, "more than 100 fields"},
		{"introspection", "application/json", `{"query": "{ __schema { types { name } } }"}`, "introspection is not allowed"},
		{"batch", "application/json", `[{"query": "{ a }"}, {"query": "{ b }"}, {"query": "{ c }"}]`, "a batch of 3 operations"},
		{"malformed", "application/json", `{"query": "{ orders( }"}`, "malformed GraphQL"},
	} {
		p := problemOf(t, post(tc.ct, tc.body), 400)
		if p["type"] != "tag:rampart-gw.github.io,2026:problems/graphql-refused" || !strings.Contains(p["detail"].(string), tc.msg) {
			t.Errorf("%s: %v", tc.name, p)
		}
	}
	r := get(t, g.url("/graphql?query="+url.QueryEscape("{ __type(name: \"User\") { name } }")))
	if p := problemOf(t, r, 400); p["type"] != "tag:rampart-gw.github.io,2026:problems/graphql-refused" {
		t.Fatalf("GET introspection: %v", p)
	}
}
