// Package graphqlop serves one vetted GraphQL operation as a route's REST
// endpoint (route graphql_operation:, docs/protocol-mediation.md): the
// operation is fixed in the config and checked at load, its variables
// come from the request through templates, the upstream gets that
// operation and nothing else, and the client gets the operation's data as
// plain JSON, or a problem for its errors.
package graphqlop

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/heldreply"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/transform"
)

// Defaults and bounds of graphql_operation.
const (
	DefaultEndpoint = "/graphql"
	DefaultMaxReply = 4 << 20
	MaxReplyLimit   = 64 << 20
)

// Stage is a route's GraphQL operation, last before the proxy.
type Stage struct {
	query, name string
	mutation    bool
	vars        []variable
	endpoint    string
	data        []string
	maxReply    int
}

// variable is one variable's template.
type variable struct {
	name   string
	t      *transform.Template
	asJSON bool
}

// compile checks and compiles a route's operation.
func compile(g *config.GraphQLOperation, ctx transform.Context, methods []string) (*Stage, []fieldErr) {
	var errs []fieldErr
	fail := func(path, format string, args ...any) {
		errs = append(errs, fieldErr{path, fmt.Sprintf(format, args...)})
	}
	s := &Stage{query: g.Query, endpoint: g.Endpoint, maxReply: int(g.MaxReplyBytes)}
	if s.endpoint == "" {
		s.endpoint = DefaultEndpoint
	}
	if !strings.HasPrefix(s.endpoint, "/") {
		fail("endpoint", "%q must be a path starting with /", g.Endpoint)
	}
	if s.maxReply <= 0 {
		s.maxReply = DefaultMaxReply
	}
	if g.MaxReplyBytes < 0 || g.MaxReplyBytes > MaxReplyLimit {
		fail("max_reply_bytes", "must be between 1 byte and 64MiB")
	}
	if g.Data != "" {
		s.data = strings.Split(g.Data, ".")
	}
	doc, perr := parser.ParseQuery(&ast.Source{Input: g.Query})
	if perr != nil {
		fail("query", "not a GraphQL document: %v", perr)
		return s, errs
	}
	var op *ast.OperationDefinition
	switch {
	case g.OperationName != "":
		op = doc.Operations.ForName(g.OperationName)
		if op == nil {
			fail("operation_name", "query has no operation %s", g.OperationName)
			return s, errs
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		fail("operation_name", "query has %d operations: name the one to run", len(doc.Operations))
		return s, errs
	}
	s.name = op.Name
	switch op.Operation {
	case ast.Mutation:
		s.mutation = true
		if len(methods) == 0 || slices.Contains(methods, http.MethodGet) || slices.Contains(methods, http.MethodHead) {
			fail("query", "the operation is a mutation, and the route takes GET (a safe method): give the route match.methods without GET, such as [POST]")
		}
	case ast.Subscription:
		fail("query", "a subscription streams, and a REST endpoint answers once: use a query or a mutation")
	}
	declared := map[string]*ast.VariableDefinition{}
	for _, v := range op.VariableDefinitions {
		declared[v.Variable] = v
	}
	for _, list := range []struct {
		key    string
		m      map[string]string
		asJSON bool
	}{{"variables", g.Variables, false}, {"variables_json", g.VariablesJSON, true}} {
		for _, name := range slices.Sorted(maps.Keys(list.m)) {
			p := list.key + "." + name
			if declared[name] == nil {
				fail(p, "the operation declares no variable $%s", name)
				continue
			}
			if _, dup := g.Variables[name]; dup && list.asJSON {
				fail(p, "$%s is set in variables too", name)
				continue
			}
			t, err := ctx.ParseTemplate(list.m[name])
			if err != nil {
				fail(p, "%v", err)
				continue
			}
			s.vars = append(s.vars, variable{name: name, t: t, asJSON: list.asJSON})
		}
	}
	for _, v := range op.VariableDefinitions {
		_, set := g.Variables[v.Variable]
		_, setJSON := g.VariablesJSON[v.Variable]
		if !set && !setJSON && v.Type.NonNull && v.DefaultValue == nil {
			fail("variables", "the operation needs $%s (%s): set it in variables or variables_json", v.Variable, v.Type.String())
		}
	}
	return s, errs
}

type fieldErr struct{ path, msg string }

// Check compiles every route's operation (config.Check).
func Check(cfg *config.Config) config.Errors {
	var errs config.Errors
	for i, r := range cfg.Routes {
		if r == nil || r.GraphQLOperation == nil {
			continue
		}
		base := fmt.Sprintf("routes[%d]", i)
		_, ferrs := compile(r.GraphQLOperation, transform.RouteContext(cfg, r), r.Match.Methods)
		for _, fe := range ferrs {
			errs = append(errs, cfg.FieldError(base+".graphql_operation."+fe.path, fmt.Errorf("%s", fe.msg)))
		}
		errs = append(errs, heldreply.RouteErrors(cfg, base, r, "graphql_operation", "operation")...)
	}
	return errs
}

// New compiles route r's operation; errors are those Check reports.
func New(cfg *config.Config, r *config.Route) (*Stage, error) {
	s, errs := compile(r.GraphQLOperation, transform.RouteContext(cfg, r), r.Match.Methods)
	if len(errs) > 0 {
		return nil, fmt.Errorf("graphql_operation.%s: %s", errs[0].path, errs[0].msg)
	}
	return s, nil
}

// Name names the stage in traces and docs/architecture.md.
func (s *Stage) Name() string { return "graphql_operation" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		look := transform.RequestLookup(r, st)
		vars := map[string]json.RawMessage{}
		for _, v := range s.vars {
			var text []byte
			var err error
			if v.asJSON {
				text, err = v.t.Render(nil, look) // the text is the JSON value: ?first=2 is the Int 2
			} else {
				text, err = v.t.RenderString(nil, look)
			}
			if err != nil {
				reqctx.Refuse(w, r, transform.MissingRefusal(err, "graphql_operation"))
				return
			}
			if v.asJSON && !json.Valid(text) {
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.BadRequest, Reason: "invalid_value", Stage: "graphql_operation",
					Detail: fmt.Sprintf("The value given for %s is not what the operation takes (%s): send a number, true or false, or JSON.", v.name, problem.Clip(string(text), 64))})
				return
			}
			vars[v.name] = text
		}
		body, err := json.Marshal(struct {
			Query         string                     `json:"query"`
			OperationName string                     `json:"operationName,omitempty"`
			Variables     map[string]json.RawMessage `json:"variables,omitempty"`
		}{s.query, s.name, vars})
		if err != nil {
			panic(err) // variables are valid JSON, checked above
		}
		// the upstream gets the operation, and nothing of the client's
		// body or query
		if guard.HasBody(r) {
			if _, ok := guard.ReadBody(w, r); !ok {
				return
			}
		}
		heldreply.Post(r, st, s.endpoint, body, "application/json")
		st.SetUpstream("Accept", []string{"application/graphql-response+json, application/json"})
		rw := heldreply.New(w, st, s.maxReply)
		next.ServeHTTP(rw, r)
		s.finish(rw, r)
	})
}

// reply is a GraphQL response.
type reply struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

// statusOf is the HTTP status of an error's extensions.code, as Apollo
// Server and most others write it; other codes are the service's own
// failure.
var statusOf = map[string]int{
	"BAD_USER_INPUT": 400, "BAD_REQUEST": 400, "GRAPHQL_VALIDATION_FAILED": 400, "UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "CONFLICT": 409,
}

// finish answers with the operation's data, or a problem.
func (s *Stage) finish(w *heldreply.Writer, r *http.Request) {
	if !w.Held() {
		return
	}
	refuse := func(t problem.Type, reason, detail string) {
		w.Refuse(r, reqctx.Refusal{Type: t, Reason: reason, Stage: "proxy", Detail: detail})
	}
	if w.Over {
		refuse(problem.BadGateway, "reply_too_large", fmt.Sprintf("The service's reply is larger than this endpoint passes on (%d bytes).", s.maxReply))
		return
	}
	var rep reply
	if err := json.Unmarshal(w.Body, &rep); err != nil || (len(rep.Data) == 0 && len(rep.Errors) == 0) {
		refuse(problem.BadGateway, "not_graphql", fmt.Sprintf("The service did not answer as a GraphQL service (HTTP %d).", w.Status))
		return
	}
	data := rep.Data
	for _, name := range s.data {
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			data = nil
			break
		}
		data = obj[name]
	}
	missing := len(data) == 0 || bytes.Equal(data, []byte("null"))
	if len(rep.Errors) > 0 && missing {
		e := rep.Errors[0]
		status := statusOf[e.Extensions.Code]
		t := problem.UpstreamError
		if status == 0 {
			t.Status = http.StatusBadGateway
			refuse(t, "upstream_error", "The service failed to answer. Retry later; if it persists, report the request id to the API operator.")
			return
		}
		t.Status = status
		refuse(t, "upstream_"+strings.ToLower(e.Extensions.Code), fmt.Sprintf("The service refused the request (%s): %s", e.Extensions.Code, problem.Clip(e.Message, 512)))
		return
	}
	if missing {
		refuse(problem.NotFound, "not_found", "The service has nothing at this address.")
		return
	}
	w.WriteJSON(append(bytes.Clone(data), '\n'), "")
}
