package bodyguard

import (
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Stage checks a request body's type and structure. It runs after the
// size guard, so the body it buffers is bounded by the body limit.
type Stage struct {
	types   []string // allowed media types; nil: any
	json    *JSONLimits
	xml     *XMLLimits
	graphql *GraphQLLimits
	// graphqlGet passes queries over GET; graphqlIDE the IDE page.
	graphqlGet, graphqlIDE bool
	// Persisted, when set, is the only operations that pass.
	Persisted *Persisted
	allowed   string // for the 415 detail
}

// New compiles a policy's validate section (defaults applied); it
// returns nil when there is nothing to check.
func New(v *config.Validate) *Stage {
	if v == nil || (len(v.ContentTypes) == 0 && v.JSON == nil && v.XML == nil && v.GraphQL == nil) {
		return nil
	}
	s := &Stage{types: v.ContentTypes, allowed: strings.Join(v.ContentTypes, ", ")}
	if j := v.JSON; j != nil {
		s.json = &JSONLimits{MaxDepth: j.MaxDepth, MaxKeys: j.MaxKeys, MaxArray: j.MaxArray, MaxString: int(j.MaxString), AllowDuplicateKeys: j.AllowDuplicateKeys}
	}
	if g := v.GraphQL; g != nil {
		s.graphql = &GraphQLLimits{MaxDepth: g.MaxDepth, MaxAliases: g.MaxAliases, MaxFields: g.MaxFields, MaxCost: g.MaxCost,
			MaxBatch: g.MaxBatch, MaxTokens: g.MaxTokens, MaxDirectives: g.MaxDirectives, Introspection: g.Introspection}
		s.graphqlGet, s.graphqlIDE = g.Get != "off", g.IDE
	}
	if x := v.XML; x != nil {
		s.xml = &XMLLimits{MaxDepth: x.MaxDepth, MaxElements: x.MaxElements, MaxAttributes: x.MaxAttributes, MaxText: int(x.MaxText)}
	}
	return s
}

// Name names the stage in traces and docs/architecture.md (stage 8, JSON, XML and GraphQL structure).
func (s *Stage) Name() string { return "body_structure" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hasBody := guard.HasBody(r)
		// A POST, PUT or PATCH that says it sends JSON or XML and sends
		// nothing (Content-Length: 0) is checked as the empty document it
		// claims to be.
		emptyClaimed := !hasBody && len(r.Header["Content-Length"]) > 0 && len(r.Header["Content-Type"]) > 0 &&
			(r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch)
		if !hasBody && !emptyClaimed {
			if s.graphql != nil && r.Method == http.MethodGet && !s.checkGraphQLGet(w, r) {
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			mt = ""
		}
		if s.types != nil && !slices.Contains(s.types, mt) {
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.UnsupportedMediaType, Reason: "unsupported_media_type", Stage: "body", Rule: "content_types",
				Detail: "This endpoint accepts request bodies of type " + s.allowed + "; send one of them with a matching Content-Type."})
			return
		}
		checkJSON, checkXML := s.json != nil && guard.IsJSON(mt), s.xml != nil && guard.IsXML(mt)
		checkGraphQL := s.graphql != nil && (guard.IsJSON(mt) || mt == "application/graphql")
		if s.Persisted != nil && !checkGraphQL {
			// an allow-list is only as good as the reading it gets
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.UnsupportedMediaType, Reason: "unsupported_media_type", Stage: "body", Rule: "graphql",
				Detail: "This GraphQL API takes requests as application/json {query, variables, operationName} or application/graphql."})
			return
		}
		if !checkJSON && !checkXML && !checkGraphQL {
			next.ServeHTTP(w, r)
			return
		}
		if !hasBody {
			// Content-Length: 0 with a JSON or XML type: an empty body is
			// no document, and an upstream may read it as {} or fail.
			kind := "JSON"
			if checkXML && !checkJSON {
				kind = "XML"
			}
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.InvalidBody, Reason: "invalid_body", Stage: "body", Rule: strings.ToLower(kind),
				Detail: "The body is empty, yet Content-Type says " + mt + ": an empty body is no " + kind + " document. Send one, or send no Content-Type.",
				Errors: []problem.FieldError{{Location: "body", Message: "empty"}}})
			return
		}
		body, ok := guard.ReadBody(w, r)
		if !ok {
			return
		}
		if checkJSON || checkXML {
			kind, location := "JSON", "#" // JSON pointers in URI-fragment form; XML paths as they are
			if !checkJSON {
				kind, location = "XML", ""
			}
			var v *Violation
			switch {
			case !utf8.Valid(body):
				v = &Violation{Message: "the body is not valid UTF-8"}
				if !checkJSON {
					v.Pointer = "/"
				}
			case checkJSON:
				v = CheckJSON(body, *s.json)
			default:
				v = CheckXML(body, *s.xml)
			}
			if v != nil {
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.InvalidBody, Reason: "invalid_body", Stage: "body", Rule: strings.ToLower(kind),
					Detail: "The " + kind + " body was refused: " + v.Message + ". See errors for where.",
					Errors: []problem.FieldError{{Location: location + v.Pointer, Message: v.Message}}})
				return
			}
		}
		if checkGraphQL {
			var reqs []GraphQLRequest
			var v *Violation
			if mt == "application/graphql" {
				reqs = []GraphQLRequest{{Query: string(body)}}
			} else {
				reqs, v = ParseGraphQLBody(body)
			}
			if v == nil && s.Persisted != nil {
				rewrite := false
				for i := range reqs {
					doc, ok := s.Persisted.resolve(&reqs[i])
					if !ok {
						refuseUnlisted(w, r)
						return
					}
					rewrite = rewrite || reqs[i].Query != doc
					reqs[i].Query = doc
				}
				if rewrite && mt != "application/graphql" {
					setGraphQLBody(r, reqs, strings.HasPrefix(strings.TrimLeft(string(body), " \t\r\n"), "["))
				}
			}
			if v == nil {
				v = CheckGraphQLBatch(reqs, *s.graphql)
			}
			if v != nil {
				refuseGraphQL(w, r, v)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuseUnlisted answers an operation the persisted manifest does not
// list.
func refuseUnlisted(w http.ResponseWriter, r *http.Request) {
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.Forbidden, Reason: "unknown_operation", Stage: "body", Rule: "graphql_persisted",
		Detail: "This GraphQL API runs only its persisted operations, and this one is not among them: send a listed operation's id, or its exact text."})
}

// setGraphQLBody makes the body the requests as the upstream gets them:
// each listed operation's text in place of its id.
func setGraphQLBody(r *http.Request, reqs []GraphQLRequest, batch bool) {
	type out struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName,omitempty"`
		Variables     map[string]any `json:"variables,omitempty"`
	}
	list := make([]out, len(reqs))
	for i, q := range reqs {
		list[i] = out{q.Query, q.OperationName, q.Variables}
	}
	var body []byte
	if batch {
		body, _ = json.Marshal(list)
	} else {
		body, _ = json.Marshal(list[0])
	}
	st := reqctx.From(r.Context())
	st.Body, st.BodyBuffered = body, true
	r.Body, r.ContentLength, r.TransferEncoding = guard.BodyReader(body), int64(len(body)), nil
	for _, h := range guard.DigestFields {
		delete(r.Header, h)
	}
}

// checkGraphQLGet checks a GET request to a GraphQL route: a query in
// its parameters (GraphQL over GET), or a browser asking for the IDE
// page; it answers and reports false when the request is refused.
func (s *Stage) checkGraphQLGet(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if s.Persisted != nil {
		req := GraphQLRequest{Query: q.Get("query"), ID: q.Get("id"), DocumentID: q.Get("documentId")}
		if ext := q.Get("extensions"); ext != "" {
			_ = json.Unmarshal([]byte(ext), &req.Extensions)
		}
		if req.Query != "" || req.ID != "" || req.DocumentID != "" || req.Extensions.PersistedQuery != nil {
			doc, ok := s.Persisted.resolve(&req)
			if !ok {
				refuseUnlisted(w, r)
				return false
			}
			if req.Query != doc {
				// the upstream gets the listed text
				q.Set("query", doc)
				q.Del("id")
				q.Del("documentId")
				q.Del("extensions")
				r.URL.RawQuery = q.Encode()
			}
		}
	}
	if !q.Has("query") {
		if !s.graphqlIDE && acceptsHTML(r) {
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.NotFound, Reason: "graphql_ide", Stage: "body", Rule: "graphql",
				Detail: "The GraphQL IDE page is not served here (validate.graphql.ide is off). Send queries with POST, or use a local IDE."})
			return false
		}
		return true
	}
	if !s.graphqlGet {
		reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.MethodNotAllowed, Reason: "graphql_get", Stage: "body", Rule: "graphql",
			Header: map[string]string{"Allow": "POST"},
			Detail: "GraphQL over GET is off for this API (validate.graphql.get). Send the query with POST as JSON {query, variables}."})
		return false
	}
	var vars map[string]any
	if raw := q.Get("variables"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &vars); err != nil {
			refuseGraphQL(w, r, &Violation{Message: "variables must be a JSON object"})
			return false
		}
	}
	doc, v := checkGraphQL(q.Get("query"), vars, *s.graphql)
	if v != nil {
		refuseGraphQL(w, r, v)
		return false
	}
	for _, op := range doc.Operations {
		if op.Operation == ast.Mutation {
			// GraphQL over HTTP: a GET must not change anything, and a
			// link or an image can make a browser send one.
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.MethodNotAllowed, Reason: "graphql_get_mutation", Stage: "body", Rule: "graphql",
				Header: map[string]string{"Allow": "POST"},
				Detail: "A mutation cannot be sent over GET. Send it with POST as JSON {query, variables}."})
			return false
		}
	}
	return true
}

// acceptsHTML reports a browser's navigation: text/html accepted.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header["Accept"] {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}

func refuseGraphQL(w http.ResponseWriter, r *http.Request, v *Violation) {
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.GraphQLRefused, Reason: "graphql_refused", Stage: "body", Rule: "graphql",
		Detail: "The GraphQL request was refused: " + v.Message + ". Ask for less in one request, or split it.",
		Errors: []problem.FieldError{{Location: v.Pointer, Message: v.Message}}})
}
