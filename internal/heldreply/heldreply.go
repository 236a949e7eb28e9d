// Package heldreply holds an upstream's reply for a stage that answers
// the client with something made from it (a transcoded gRPC reply made
// JSON, a GraphQL response made plain data), while the gateway's own
// answers (a 502 of the proxy's, a refusal) pass through untouched.
package heldreply

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Writer is the ResponseWriter the stages after a converting stage write
// to.
type Writer struct {
	http.ResponseWriter
	st  *reqctx.State
	max int
	// Own are the gateway's headers before the upstream's were added,
	// for a refusal in the reply's place (reqctx.RefuseResponse).
	Own http.Header
	// Status and Body are the upstream's reply.
	Status int
	Body   []byte
	// Started: something was written. Passing: the gateway's own
	// answer went out. Over: the reply was larger than max.
	Started, Passing, Over bool
}

// Post makes r the request the upstream gets in the client's place: a
// POST of body to path, without the client's query, as contentType; the
// client's body encoding and digests go no further.
func Post(r *http.Request, st *reqctx.State, path string, body []byte, contentType string) {
	r.Method = http.MethodPost
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, "", ""
	r.Body, r.ContentLength, r.TransferEncoding = guard.BodyReader(body), int64(len(body)), nil
	st.SetUpstream("Content-Type", []string{contentType})
	st.SetUpstream("Content-Encoding", nil)
	for _, h := range guard.DigestFields {
		st.SetUpstream(h, nil)
	}
}

// New returns a Writer over w holding replies up to max bytes.
func New(w http.ResponseWriter, st *reqctx.State, max int) *Writer {
	return &Writer{ResponseWriter: w, st: st, max: max, Own: w.Header().Clone()}
}

// Held reports whether there is an upstream reply to convert.
func (w *Writer) Held() bool { return w.Started && !w.Passing }

func (w *Writer) WriteHeader(code int) {
	if w.Started || code < 200 {
		return
	}
	w.Started = true
	if w.st.Problem != "" {
		w.Passing = true
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.Status = code
}

func (w *Writer) Write(p []byte) (int, error) {
	if !w.Started {
		w.WriteHeader(http.StatusOK)
	}
	if w.Passing {
		return w.ResponseWriter.Write(p)
	}
	if len(w.Body)+len(p) > w.max {
		w.Over = true
		return 0, reqctx.ErrResponseReplaced
	}
	w.Body = append(w.Body, p...)
	return len(p), nil
}

// Flush sends a passing answer; a held reply stays held.
func (w *Writer) Flush() {
	if w.Passing {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *Writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Refuse answers with a refusal in the reply's place.
func (w *Writer) Refuse(r *http.Request, rf reqctx.Refusal) {
	reqctx.RefuseResponse(w.ResponseWriter, r, w.Own, rf)
}

// entityFields describe the upstream's body, which the made answer
// replaces.
var entityFields = []string{"Content-Length", "Content-Encoding", "Content-Type", "Etag", "Last-Modified", "Trailer"}

// WriteJSON answers with the JSON made of the reply: the upstream's
// other headers kept, those that described its body (and its trailers,
// and the fields named by drop, such as Grpc-) removed.
func (w *Writer) WriteJSON(out []byte, dropPrefix string) {
	h := w.Header()
	for _, k := range entityFields {
		delete(h, k)
	}
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || dropPrefix != "" && strings.HasPrefix(k, dropPrefix) {
			delete(h, k)
		}
	}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.ResponseWriter.WriteHeader(http.StatusOK)
	_, _ = w.ResponseWriter.Write(out)
}

// RouteErrors are what a route whose request a converting stage makes
// (at key, such as soap_operation) cannot also have: a rewrite of the
// path, a transform of the body or method, another protocol. sent names
// what the upstream gets in the request's place.
func RouteErrors(cfg *config.Config, base string, r *config.Route, key, sent string) config.Errors {
	var errs config.Errors
	if r.Rewrite != nil {
		errs = append(errs, cfg.FieldError(base+".rewrite", errors.New("the path sent upstream is the operation's endpoint: remove rewrite")))
	}
	protocols := 0
	for _, set := range []bool{r.GRPC != nil, r.Transcode != nil, r.GraphQLOperation != nil, r.SOAPOperation != nil} {
		if set {
			protocols++
		}
	}
	if protocols > 1 {
		errs = append(errs, cfg.FieldError(base+"."+key, errors.New("a route serves one protocol: give soap_operation, graphql_operation, transcode and grpc routes of their own")))
	}
	if t := r.Transform; t != nil && t.Request != nil && (t.Request.Body != nil || t.Request.Method != "") {
		errs = append(errs, cfg.FieldError(base+".transform.request", errors.New("the request sent upstream is the "+sent+": its body and method cannot be transformed")))
	}
	return errs
}
