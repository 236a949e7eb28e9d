// Package schema is stage 12 of the request path: requests are checked
// against the API's OpenAPI 3 description (path and query parameters,
// headers, cookies, body) before they reach the upstream; with strict,
// operations the description does not document are refused. Responses
// may be checked too, in detect mode: a mismatch is reported, never
// blocked.
package schema

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/rampart-gw/rampart/internal/bodyguard"
	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Options configure a stage.
type Options struct {
	// Strict refuses operations the document does not describe.
	Strict bool
	// Responses checks the upstream's responses to documented operations
	// and reports those that do not match (event schema.response).
	Responses bool
	// Count, if set, counts checked responses by outcome: valid,
	// invalid, unchecked (the gateway answered itself).
	Count func(outcome string)
}

// Stage validates requests against one document.
type Stage struct {
	router    routers.Router
	strict    bool
	responses bool
	count     func(outcome string)
	opts      *openapi3filter.Options
	typed     sync.Map // *openapi3.MediaType -> *fieldpath.Set (nil: none)
}

// New compiles a stage for doc, as config validation loaded it (its
// servers replaced by "/", so operations match the paths clients send to
// the gateway).
func New(doc *openapi3.T, o Options) (*Stage, error) {
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Stage{router: r, strict: o.Strict, responses: o.Responses, count: o.Count, opts: &openapi3filter.Options{MultiError: true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc, // authentication is stage 9's
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidators(formats)}}}, nil
}

// Name names the stage in traces and docs/architecture.md (stage 12, OpenAPI validation).
func (s *Stage) Name() string { return "schema" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, params, err := s.router.FindRoute(r)
		if err != nil {
			if !s.strict {
				next.ServeHTTP(w, r) // undocumented, and allowed to be
				return
			}
			typ, detail := problem.NotFound, "The API description documents no "+r.Method+" "+problem.Clip(r.URL.Path, 200)+"; check the URL against it."
			// The router returns a fresh RouteError: compare the reason.
			if err.Error() == routers.ErrMethodNotAllowed.Error() {
				typ, detail = problem.MethodNotAllowed, "The API description documents no "+r.Method+" on this path."
			}
			reqctx.Refuse(w, r, reqctx.Refusal{Type: typ, Reason: "undocumented_operation", Stage: "schema", Rule: "openapi", Detail: detail})
			return
		}
		var body []byte
		if guard.HasBody(r) {
			// Read once through the size guard: an oversized body is a
			// 413, not a schema violation, and later stages reuse it.
			var ok bool
			if body, ok = guard.ReadBody(w, r); !ok {
				return
			}
		}
		media := s.jsonMedia(route.Operation, r)
		errs := repeatedParameters(route, r)
		if media != nil && body != nil {
			// The schema validates one reading of the body; parsers
			// disagree on which of two equal keys wins.
			if v := bodyguard.CheckJSON(body, bodyguard.JSONLimits{}); v != nil {
				errs = append(errs, problem.FieldError{Location: "body#" + v.Pointer, Message: v.Message})
			}
		}
		in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: s.opts}
		if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil || len(errs) > 0 {
			if err != nil {
				errs = append(errs, fieldErrors(err)...)
			}
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.SchemaViolation, Reason: "schema_violation", Stage: "schema", Rule: "openapi",
				Detail: fmt.Sprintf("The request does not match the API description (%d problems). Fix the places in errors.", len(errs)), Errors: errs})
			return
		}
		if media != nil && body != nil {
			reqctx.From(r.Context()).TypedFields = s.typedFields(media)
		}
		if s.responses {
			s.checkResponse(next, w, r, in)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonMedia is the operation's description of the request's body when
// its media type is JSON, else nil.
func (s *Stage) jsonMedia(op *openapi3.Operation, r *http.Request) *openapi3.MediaType {
	if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !guard.IsJSON(mt) {
		return nil
	}
	return op.RequestBody.Value.Content.Get(mt)
}

// typedFields are the fields of bodies of media m the WAF need not read
// once validated (Typed), compiled once per media type.
func (s *Stage) typedFields(m *openapi3.MediaType) *fieldpath.Set {
	if v, ok := s.typed.Load(m); ok {
		return v.(*fieldpath.Set)
	}
	set := typedSet(m)
	s.typed.Store(m, set)
	return set
}

// repeatedParameters refuses a query parameter the description declares
// single-valued (not an array) that arrives more than once: validation
// reads the first value, and the upstream may read another
// (limit=5&limit=500).
func repeatedParameters(route *routers.Route, r *http.Request) []problem.FieldError {
	if r.URL.RawQuery == "" {
		return nil
	}
	var errs []problem.FieldError
	check := func(params openapi3.Parameters) {
		for _, ref := range params {
			p := ref.Value
			if p == nil || p.In != openapi3.ParameterInQuery || p.Schema == nil || p.Schema.Value == nil || p.Schema.Value.Type.Is("array") || p.Schema.Value.Type.Is("object") {
				continue
			}
			if n := len(r.URL.Query()[p.Name]); n > 1 {
				errs = append(errs, problem.FieldError{Location: "query." + p.Name,
					Message: fmt.Sprintf("sent %d times; the API describes one value: send it once", n)})
			}
		}
	}
	if route.PathItem != nil {
		check(route.PathItem.Parameters)
	}
	if route.Operation != nil {
		check(route.Operation.Parameters)
	}
	return errs
}

// fieldErrors turns validation errors into problem entries: where
// (path.id, query.limit, header.X-Tenant, body#/items/0/qty) and what.
// Values the client sent are never echoed.
func fieldErrors(err error) []problem.FieldError {
	var list []error
	var multi openapi3.MultiError
	if errors.As(err, &multi) {
		list = multi
	} else {
		list = []error{err}
	}
	out := make([]problem.FieldError, 0, len(list))
	for _, e := range list {
		out = append(out, fieldError(e))
		if len(out) == 20 {
			break
		}
	}
	return out
}

func fieldError(err error) problem.FieldError {
	var re *openapi3filter.RequestError
	var se *openapi3.SchemaError
	loc, msg := "request", "does not match the API description"
	if errors.As(err, &re) {
		switch {
		case re.Parameter != nil:
			loc = re.Parameter.In + "." + re.Parameter.Name
		case re.RequestBody != nil:
			loc = "body"
		}
		if re.Reason != "" {
			msg = re.Reason
		}
	}
	if errors.As(err, &se) {
		if p := se.JSONPointer(); len(p) > 0 && loc == "body" {
			loc += "#/" + strings.Join(escape(p), "/")
		}
		msg = se.Reason
	}
	return problem.FieldError{Location: loc, Message: msg}
}

func escape(p []string) []string {
	out := make([]string, len(p))
	r := strings.NewReplacer("~", "~0", "/", "~1")
	for i, s := range p {
		out[i] = r.Replace(s)
	}
	return out
}
