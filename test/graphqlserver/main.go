// Command graphqlserver is the end-to-end tests' GraphQL upstream:
// graph-gophers/graphql-go serving a small user directory, with errors
// that carry extensions.code as Apollo and most servers write them.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/graph-gophers/graphql-go/relay"
)

const schema = `
schema { query: Query mutation: Mutation }
type Query {
  user(id: ID!): User
  users(first: Int = 10): [User!]!
  secret: String!
}
type Mutation {
  renameUser(id: ID!, name: String!): User!
}
type User {
  id: ID!
  name: String!
  email: String!
}
`

type user struct{ id, name, email string }

type resolver struct {
	mu    sync.Mutex
	users []*user
}

type userResolver struct{ u *user }

func (u userResolver) ID() graphql.ID { return graphql.ID(u.u.id) }
func (u userResolver) Name() string   { return u.u.name }
func (u userResolver) Email() string  { return u.u.email }

// codedError is an error with extensions.code.
type codedError struct{ msg, code string }

func (e codedError) Error() string              { return e.msg }
func (e codedError) Extensions() map[string]any { return map[string]any{"code": e.code} }

func (r *resolver) User(args struct{ ID graphql.ID }) (*userResolver, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.users {
		if u.id == string(args.ID) {
			return &userResolver{u}, nil
		}
	}
	if args.ID == "forbidden" {
		return nil, codedError{"you may not read this user", "FORBIDDEN"}
	}
	return nil, nil
}

func (r *resolver) Users(args struct{ First int32 }) []userResolver {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []userResolver
	for i, u := range r.users {
		if int32(i) >= args.First {
			break
		}
		out = append(out, userResolver{u})
	}
	return out
}

func (r *resolver) Secret() (string, error) {
	return "", fmt.Errorf("pq: connection to 10.1.2.3:5432 refused at db/pool.go:88")
}

func (r *resolver) RenameUser(args struct {
	ID   graphql.ID
	Name string
}) (userResolver, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if args.Name == "" {
		return userResolver{}, codedError{"a name must not be empty", "BAD_USER_INPUT"}
	}
	for _, u := range r.users {
		if u.id == string(args.ID) {
			u.name = args.Name
			return userResolver{u}, nil
		}
	}
	return userResolver{}, codedError{"no user " + string(args.ID), "NOT_FOUND"}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	flag.Parse()
	s := graphql.MustParseSchema(schema, &resolver{users: []*user{
		{"u1", "Ada Lovelace", "ada@example.com"}, {"u2", "Alan Turing", "alan@example.com"}, {"u3", "Grace Hopper", "grace@example.com"}}},
		graphql.UseFieldResolvers())
	mux := http.NewServeMux()
	mux.Handle("POST /graphql", &relay.Handler{Schema: s})
	// GraphQL over GET: ?query=&variables=
	mux.HandleFunc("GET /graphql", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var vars map[string]any
		_ = json.Unmarshal([]byte(q.Get("variables")), &vars)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Exec(r.Context(), q.Get("query"), q.Get("operationName"), vars))
	})
	// /seen reports the operations the server was sent: the tests check
	// that only vetted ones reach it
	var mu sync.Mutex
	var seen []string
	mux.HandleFunc("GET /seen", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewEncoder(w).Encode(seen)
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/graphql" {
			var body struct {
				Query string `json:"query"`
			}
			buf, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(buf))
			_ = json.Unmarshal(buf, &body)
			if r.Method == http.MethodGet {
				body.Query = r.URL.Query().Get("query")
			}
			mu.Lock()
			seen = append(seen, body.Query)
			mu.Unlock()
		}
		mux.ServeHTTP(w, r)
	})
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "graphqlserver listening on", l.Addr())
	log.Fatal(http.Serve(l, h))
}
