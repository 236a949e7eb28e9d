// Package problem renders RFC 9457 problem details, the one format of every
// response Rampart generates itself, and holds the catalogue of problem types.
//
// Every type in the catalogue is documented in docs/problems.md; a test keeps
// the two in step.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// DefaultBase prefixes every problem type slug where the config sets no
// base (problems.type_base) and the portal is off. It is a tag: URI (RFC
// 4151) minted under the project's own name: it identifies the type for
// good and, unlike an https URI on a domain the operator does not run,
// sends no client anywhere. Each type is documented in docs/problems.md
// under its slug.
const DefaultBase = "tag:rampart-gw.github.io,2026:problems/"

// ContentType is the media type of every problem response.
const ContentType = "application/problem+json"

// Type is one entry of the catalogue: a stable URI slug, a title, and the
// HTTP status it is returned with.
type Type struct {
	Slug   string
	Title  string
	Status int
	// Cause and Fix document the type in docs/problems.md.
	Cause string
	Fix   string
}

// URI returns the type's URI under DefaultBase.
func (t Type) URI() string { return DefaultBase + t.Slug }

// FieldError points at one invalid part of a request.
type FieldError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
}

// Problem is an RFC 9457 body. Detail tells the client what to do.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`

	// Header holds extra response headers (Allow, Retry-After,
	// WWW-Authenticate). Never encoded in the body.
	Header http.Header `json:"-"`

	slug string // the type's, for Rebase
}

// New returns a problem of type t with the given detail.
func New(t Type, detail string) *Problem {
	return &Problem{Type: t.URI(), Title: t.Title, Status: t.Status, Detail: detail, slug: t.Slug}
}

// Rebase puts p's type under base (a prefix the slug is appended to: an
// https URI of the operator's documentation, or the portal's problem
// pages as a path); an empty base leaves DefaultBase. It returns p.
func (p *Problem) Rebase(base string) *Problem {
	if base != "" && p.slug != "" {
		p.Type = base + p.slug
	}
	return p
}

// With sets a response header and returns p.
func (p *Problem) With(key, value string) *Problem {
	if p.Header == nil {
		p.Header = make(http.Header, 1)
	}
	p.Header.Set(key, value)
	return p
}

// Write renders p on w. The request id, if any, is stamped into the body.
// Write never fails the caller: an encoding error cannot happen for the
// fixed shape of Problem.
func Write(w http.ResponseWriter, p *Problem, requestID string) {
	p.RequestID = requestID
	h := w.Header()
	for k, vs := range p.Header {
		h[k] = vs
	}
	body, _ := json.Marshal(p)
	body = append(body, '\n')
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	// The body replaces whatever the request would have produced, so
	// content negotiation and encodings of a would-be upstream reply must
	// not survive.
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// Clip shortens text a client sent (a path, an origin, a header name) to
// at most n bytes and an ellipsis before a detail quotes it, so a detail
// stays short whatever was sent.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
