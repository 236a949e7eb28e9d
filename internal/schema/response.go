package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// ResponseLimit is the most of a response body the check keeps; a longer
// body is passed on whole but its content is not checked.
const ResponseLimit = 1 << 20

// checkResponse serves the request with the response copied on its way to
// the client, then checks the copy against the operation's responses
// (status, documented headers, content type, body schema) and reports a
// mismatch as an event and a metric. It never changes the response: the
// client has every byte (flushed) before the check runs.
func (s *Stage) checkResponse(next http.Handler, w http.ResponseWriter, r *http.Request, in *openapi3filter.RequestValidationInput) {
	st := reqctx.From(r.Context())
	cw := &copyWriter{ResponseWriter: w, limit: ResponseLimit}
	next.ServeHTTP(cw, r)
	if st.Problem != "" || st.UpstreamStatus == 0 {
		s.countResponse("unchecked") // the gateway answered itself; the description is the upstream's
		return
	}
	_ = http.NewResponseController(w).Flush()
	header := w.Header()
	opts := *s.opts
	opts.IncludeResponseStatus = true
	if cw.over || !guard.IdentityEncoded(header) {
		opts.ExcludeResponseBody = true // too long to hold, or compressed: status and headers only
	}
	status := cw.status
	if status == 0 {
		status = http.StatusOK
	}
	err := openapi3filter.ValidateResponse(r.Context(), &openapi3filter.ResponseValidationInput{RequestValidationInput: in,
		Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(cw.body.Bytes())), Options: &opts})
	if err == nil {
		s.countResponse("valid")
		return
	}
	s.countResponse("invalid")
	errs := responseErrors(err)
	where := make([]string, len(errs))
	for i, e := range errs {
		where[i] = e.Location + ": " + e.Message
	}
	st.Events.Publish(observe.Event{Type: "schema.response", Reason: "response_schema_violation", Stage: "schema", Rule: "openapi",
		Status: status, Detail: problem.Clip(fmt.Sprintf("The upstream's response does not match the API description (detect mode, passed on): %s",
			strings.Join(where, "; ")), 1000),
		Consumer: st.Consumer, ClientIP: st.ClientIP.String(), RequestID: st.RequestID, Route: st.Route, Method: r.Method, Path: st.Path})
}

func (s *Stage) countResponse(outcome string) {
	if s.count != nil {
		s.count(outcome)
	}
}

// responseErrors turns response validation errors into field errors:
// status, content-type, header.X-Name, body#/items/0/id. Values the
// upstream sent are never copied into them.
func responseErrors(err error) []problem.FieldError {
	var re *openapi3filter.ResponseError
	if !errors.As(err, &re) {
		return []problem.FieldError{{Location: "response", Message: "does not match the API description"}}
	}
	loc := "body"
	switch {
	case re.Reason == "status is not supported":
		return []problem.FieldError{{Location: "status", Message: "the status is not documented for this operation"}}
	case strings.HasPrefix(re.Reason, "response header Content-Type has unexpected value"):
		return []problem.FieldError{{Location: "content-type", Message: "the media type is not documented for this status"}}
	case strings.HasPrefix(re.Reason, "unable to decode header "):
		loc = "header." + strings.Trim(strings.TrimPrefix(strings.TrimSuffix(re.Reason, " value"), "unable to decode header "), `"`)
	case re.Err == nil:
		return []problem.FieldError{{Location: "response", Message: re.Reason}}
	}
	var list []error
	var multi openapi3.MultiError
	if errors.As(re.Err, &multi) {
		list = multi
	} else {
		list = []error{re.Err}
	}
	out := make([]problem.FieldError, 0, min(len(list), 20))
	for _, e := range list {
		fe := problem.FieldError{Location: loc, Message: re.Reason}
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			if p := se.JSONPointer(); len(p) > 0 && loc == "body" {
				fe.Location += "#/" + strings.Join(escape(p), "/")
			}
			fe.Message = se.Reason
		}
		out = append(out, fe)
		if len(out) == 20 {
			break
		}
	}
	return out
}

// copyWriter passes a response through, keeping its status and the first
// limit bytes of its body.
type copyWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
	limit  int
	over   bool
}

func (c *copyWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *copyWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if !c.over {
		if c.body.Len()+len(p) > c.limit {
			c.over = true
			c.body = bytes.Buffer{}
		} else {
			c.body.Write(p)
		}
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush, deadlines), as the proxy streams through it.
func (c *copyWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
