package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startGraphQLServer runs the GraphQL upstream (test/graphqlserver) and
// returns its address.
func startGraphQLServer(t *testing.T) string {
	t.Helper()
	p := startBin(t, graphqlBinary)
	var addr string
	waitFor(t, 20*time.Second, "graphql upstream", func() bool {
		s := p.stderr.String()
		if i := strings.Index(s, "graphqlserver listening on "); i >= 0 {
			addr = strings.TrimSpace(strings.SplitN(s[i+len("graphqlserver listening on "):], "\n", 2)[0])
			return true
		}
		return false
	})
	return addr
}

// TestGraphQLOperation serves vetted operations of a real GraphQL server
// (graph-gophers/graphql-go) as REST endpoints: variables from the path
// and query, data as plain JSON, GraphQL errors as problems, and nothing
// but the configured documents reaching the server.
func TestGraphQLOperation(t *testing.T) {
	addr := startGraphQLServer(t)
	queries := []string{
		"query GetUser($id: ID!) { user(id: $id) { id name } }",
		"query ListUsers($first: Int) { users(first: $first) { id name } }",
		"mutation Rename($id: ID!, $name: String!) { renameUser(id: $id, name: $name) { id name } }",
		"{ secret }",
	}
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  users: {targets: [{url: "http://%s"}]}
routes:
  - name: user
    match: {paths: ["/v1/users/{id}"], methods: [GET]}
    upstream: users
    policy: public
    graphql_operation: {query: %q, variables: {id: "{{ params.id }}"}, data: user}
  - name: users
    match: {paths: ["/v1/users"], methods: [GET]}
    upstream: users
    policy: public
    graphql_operation: {query: %q, variables_json: {first: '{{ query.first | default "10" }}'}, data: users}
  - name: rename
    match: {paths: ["/v1/users/{id}/name"], methods: [PUT]}
    upstream: users
    policy: public
    graphql_operation: {query: %q, variables: {id: "{{ params.id }}", name: "{{ query.name }}"}, data: renameUser}
  - name: secret
    match: {paths: ["/v1/secret"], methods: [GET]}
    upstream: users
    policy: public
    graphql_operation: {query: %q, data: secret}
`, addr, queries[0], queries[1], queries[2], queries[3]))
	// a query: only the vetted fields, as plain JSON
	r := get(t, g.url("/v1/users/u1?query=%7Bsecret%7D"))
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"id":"u1","name":"Ada Lovelace"}` || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET user: %d %s", r.status, r.body)
	}
	// null data is a 404; a quote in the path stays inside its string
	problemOf(t, get(t, g.url("/v1/users/nope")), http.StatusNotFound)
	problemOf(t, get(t, g.url(`/v1/users/%22%7D%20secret%20%7B`)), http.StatusNotFound)
	// an error's extensions.code says the status, its message the detail
	p403 := problemOf(t, get(t, g.url("/v1/users/forbidden")), http.StatusForbidden)
	if !strings.Contains(fmt.Sprint(p403["detail"]), "you may not read this user") {
		t.Fatalf("403: %v", p403)
	}
	// typed variables from the query
	r = get(t, g.url("/v1/users?first=2"))
	var list []map[string]string
	if r.status != 200 || json.Unmarshal(r.body, &list) != nil || len(list) != 2 {
		t.Fatalf("GET users: %d %s", r.status, r.body)
	}
	problemOf(t, get(t, g.url("/v1/users?first=two")), http.StatusBadRequest)
	// a mutation
	r = do(t, client, "PUT", g.url("/v1/users/u2/name?name=Alan%20M.%20Turing"), nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"name":"Alan M. Turing"`) {
		t.Fatalf("PUT name: %d %s", r.status, r.body)
	}
	problemOf(t, do(t, client, "PUT", g.url("/v1/users/u2/name?name="), nil, nil), http.StatusBadRequest)
	problemOf(t, do(t, client, "PUT", g.url("/v1/users/u9/name?name=x"), nil, nil), http.StatusNotFound)
	problemOf(t, do(t, client, "PUT", g.url("/v1/users/u2/name"), nil, nil), http.StatusBadRequest) // no name: missing-value
	// the service's own failure says nothing of its internals
	r = get(t, g.url("/v1/secret"))
	problemOf(t, r, http.StatusBadGateway)
	if strings.Contains(string(r.body), "10.1.2.3") || strings.Contains(string(r.body), "pool.go") {
		t.Fatalf("the service's error leaked: %s", r.body)
	}
	// the server saw the configured documents and nothing else
	seen := get(t, "http://"+addr+"/seen")
	var docs []string
	if err := json.Unmarshal(seen.body, &docs); err != nil || len(docs) == 0 {
		t.Fatalf("seen: %s", seen.body)
	}
	for _, d := range docs {
		vetted := false
		for _, q := range queries {
			vetted = vetted || d == q
		}
		if !vetted {
			t.Fatalf("the server was sent %q", d)
		}
	}
}

// TestGraphQLPersisted: with a manifest of persisted operations, a
// GraphQL API runs those and nothing else, by id (Apollo's APQ
// extension, id, documentId) or by their exact text, over POST and GET,
// and the server gets the listed text.
func TestGraphQLPersisted(t *testing.T) {
	addr := startGraphQLServer(t)
	getUser := "query GetUser($id: ID!) { user(id: $id) { name } }"
	sum := sha256.Sum256([]byte(getUser))
	hash := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	manifest, _ := json.Marshal(map[string]any{"format": "apollo-persisted-query-manifest", "version": 1,
		"operations": []map[string]string{{"id": hash, "name": "GetUser", "type": "query", "body": getUser}}})
	writeFile(t, filepath.Join(dir, "operations.json"), string(manifest))
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  users: {targets: [{url: "http://%s"}]}
policies:
  clients:
    validate:
      graphql: {persisted: {manifest: operations.json}}
routes:
  - {name: graphql, match: {paths: ["/graphql"], methods: [GET, POST]}, upstream: users, policy: clients}
`, addr))
	post := func(body string) response {
		return do(t, client, "POST", g.url("/graphql"), strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
	}
	vars := `"variables": {"id": "u1"}`
	for _, body := range []string{
		`{"id": "` + hash + `", ` + vars + `}`,
		`{"documentId": "` + hash + `", ` + vars + `}`,
		`{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "` + hash + `"}}, ` + vars + `}`,
		`{"query": ` + strconv.Quote(getUser) + `, ` + vars + `}`,
	} {
		if r := post(body); r.status != 200 || !strings.Contains(string(r.body), "Ada Lovelace") {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
	}
	r := get(t, g.url("/graphql?id="+hash+"&variables="+url.QueryEscape(`{"id":"u2"}`)))
	if r.status != 200 || !strings.Contains(string(r.body), "Alan Turing") {
		t.Fatalf("GET by id: %d %s", r.status, r.body)
	}
	// anything else is refused before the server sees it
	for _, body := range []string{
		`{"query": "{ secret }"}`,
		`{"query": ` + strconv.Quote(getUser+" ") + `, ` + vars + `}`,
		`{"id": "nope"}`,
		`{"id": "` + hash + `", "query": "{ secret }"}`,
		`[{"id": "` + hash + `", ` + vars + `}, {"query": "{ secret }"}]`,
	} {
		problemOf(t, post(body), http.StatusForbidden)
	}
	problemOf(t, get(t, g.url("/graphql?query="+url.QueryEscape("{ secret }"))), http.StatusForbidden)
	problemOf(t, do(t, client, "POST", g.url("/graphql"), strings.NewReader("{ secret }"), map[string]string{"Content-Type": "text/plain"}), http.StatusUnsupportedMediaType)
	seen := get(t, "http://"+addr+"/seen")
	var docs []string
	if err := json.Unmarshal(seen.body, &docs); err != nil || len(docs) != 5 { // four POSTs and a GET
		t.Fatalf("seen: %s", seen.body)
	}
	for _, d := range docs {
		if d != getUser {
			t.Fatalf("the server was sent %q", d)
		}
	}
}
