package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestGraphQLGuards: a GraphQL endpoint refuses depth and alias bombs,
// fragment bombs, directive overloading, oversized batches and
// introspection, over POST JSON, application/graphql and GET, and passes
// ordinary queries; a mutation over GET is refused, GET queries can be
// turned off, the IDE page is not served unless asked for, and the
// upstream's field suggestions are cut from its error messages.
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
  posted:
    authenticate: []
    validate:
      graphql: {get: off, ide: true, suggestions: true}
routes:
  - {name: graphql, match: {paths: ["/graphql", "/mirror"], methods: [GET, POST]}, upstream: gql, policy: graph}
  - {name: posted, match: {paths: ["/posted/**"], methods: [GET, POST]}, upstream: gql, policy: posted}
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
		{"directive overloading", "application/graphql", "{ me" + strings.Repeat(" @aa", 51) + " { id } }", "more than 50 directives"},
		{"@include a thousand times", "application/graphql", "{ me { id" + strings.Repeat(" @include(if: true)", 1000) + " } }", "more than 50 directives"},
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
	// A mutation over GET: a link or an image could make a browser send it.
	r = get(t, g.url("/graphql?query="+url.QueryEscape(`mutation { deleteOrder(id: 7) { id } }`)))
	if p := problemOf(t, r, 405); p["type"] != "tag:rampart-gw.github.io,2026:problems/method-not-allowed" || r.header.Get("Allow") != "POST" {
		t.Errorf("a GET mutation: %v %v", p, r.header)
	}
	// The IDE page: a browser's GET without a query.
	html := map[string]string{"Accept": "text/html,application/xhtml+xml"}
	if p := problemOf(t, do(t, client, "GET", g.url("/graphql"), nil, html), 404); !strings.Contains(p["detail"].(string), "IDE") {
		t.Errorf("the IDE page: %v", p)
	}
	if r := do(t, client, "GET", g.url("/posted/graphql"), nil, html); r.status != 200 {
		t.Errorf("the IDE page where it is on: %d %s", r.status, r.body)
	}
	if p := problemOf(t, get(t, g.url("/posted/graphql?query="+url.QueryEscape("{ me { id } }"))), 405); p["type"] != "tag:rampart-gw.github.io,2026:problems/method-not-allowed" {
		t.Errorf("GET where it is off: %v", p)
	}
	// Field suggestions in the upstream's errors are cut (the mirror
	// answers with the body it was sent).
	leaky := `{"query": "{ usr { id } }", "errors": [{"message": "Cannot query field \"usr\" on type \"Query\". Did you mean \"user\" or \"users\"?", "locations": [{"line": 1, "column": 3}]}]}`
	r2 := do(t, client, "POST", g.url("/mirror"), strings.NewReader(leaky), map[string]string{"Content-Type": "application/json"})
	if r2.status != 200 || strings.Contains(string(r2.body), "Did you mean") || !strings.Contains(string(r2.body), `Cannot query field \"usr\" on type \"Query\".`) {
		t.Errorf("suggestions: %d %s", r2.status, r2.body)
	}
}
