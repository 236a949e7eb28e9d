// Package reqctx carries one request's state between the stages of the
// request path, and holds Refuse, the one way a stage turns a request
// away: a problem+json response, an access-log mark and a security event.
package reqctx

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/grpcwire"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/route"
)

type ctxKey struct{}

// ErrResponseReplaced is what a stage's ResponseWriter returns from Write
// once it has sent a response of its own in place of the upstream's (the
// WAF withholding a leak): the proxy stops copying and ends the request
// normally, since the client has a complete answer.
var ErrResponseReplaced = errors.New("the response was replaced by a stage")

// State is one request's data. Stages keep no per-request fields of their
// own; what they learn goes here.
type State struct {
	observe.AccessRecord

	ClientIP    netip.Addr
	TraceParent string // the traceparent to send upstream
	ProblemBase string // the prefix of problem type URIs ("" for problem.DefaultBase)
	TLS         bool   // arrived on a TLS listener
	JA4         string // the JA4 fingerprint of the TLS ClientHello; "" on cleartext
	Match       route.Match

	// UpstreamHeader holds the headers stages set on the upstream request
	// (identity, authorization decisions, response-filter needs), in the
	// order set; add them with SetUpstream. The proxy applies them after
	// the client's and its own forwarding headers, so no client header
	// can override them.
	UpstreamHeader []Field
	upstreamBuf    [4]Field

	// ResponseFilters change the upstream's response head after the
	// proxy copied it, before it is sent, in the order added: the one way
	// a stage changes response headers (CORS, security headers). Add
	// them with AddResponseFilter. Bodies are changed by a stage that
	// wraps the ResponseWriter (respfilter), which sees the head after
	// these.
	ResponseFilters []func(h http.Header, st *State)
	filterBuf       [2]func(h http.Header, st *State)

	// Upgrade is the protocol of a connection upgrade the client asked
	// for (websocket), kept by the sanitizer for the proxy.
	Upgrade string
	// ClientHopByHop are the connection's own fields the client sent
	// (Connection, Transfer-Encoding, TE, Keep-Alive, Upgrade ... and the
	// fields Connection names), which the sanitizer removes before any
	// stage reads the headers; the WAF inspects the request as sent.
	ClientHopByHop []Field
	hopBuf         [2]Field
	// HostMissing is set when an HTTP/1.0 request had no Host field;
	// Request.Host is "" for it and for an empty Host alike.
	HostMissing bool

	// MaxBodyBytes is the body limit in force for this request;
	// BodyTooLarge is set once the body read past it.
	MaxBodyBytes int64
	BodyTooLarge bool
	// BodyTimedOut is set when the body did not arrive in time.
	BodyTimedOut bool
	// Wire is the HTTP/1.1 wire guard of the request's connection; nil
	// on HTTP/2. When it refused the framing of the request's chunked
	// body, the body read fails, and the fault is the client's.
	Wire WireFault
	// Body is the request body once a stage buffered it (guard.ReadBody),
	// so later stages inspect the same bytes instead of reading again.
	Body         []byte
	BodyBuffered bool
	// TypedFields are the fields of the JSON body that schema validation
	// proved to be integers, numbers, booleans, enum members or strings
	// of a format such as uuid (schema.Typed): the WAF need not read
	// them. Nil when no schema validated the body.
	TypedFields *fieldpath.Set

	// Identity is who the request was authenticated as; nil when
	// anonymous. Set by the authenticate stage, read by later ones.
	Identity *Identity

	// Offence names something the client did wrong that a stage noted
	// without refusing (a rate anomaly); the graduated response counts
	// it when its offences list it, as it counts refusals by problem type.
	Offence string

	Events *observe.Bus
	// Refused is called once per refusal for metrics; may be nil.
	Refused func(route, stage, reason string)
}

// WireFault is the HTTP/1.1 wire guard of a connection, as the request
// path sees it.
type WireFault interface {
	// BodyFault reports why the guard refused the framing of the body
	// in flight, or "" when it did not.
	BodyFault() (reason, detail string)
}

// Identity is an authenticated caller.
type Identity struct {
	Consumer      string // the consumer id
	Authenticator string // the configured authenticator's name
	Method        string // jwt, oidc, oauth2_introspection, api_key, mtls
	// Scopes come from the credential and the consumer record. The
	// array may be shared with an authenticator's cache (clipped to its
	// length): append to it, never write its elements.
	Scopes     []string
	Roles      []string          // from the consumer record
	Attributes map[string]string // from the consumer record
	Claims     map[string]any    // token claims, when a token authenticated
	KeyID      string            // the API key id, when a key authenticated
	ExpiresAt  time.Time         // when the credential stops being valid; zero if never
}

// Field is one header a stage sets on the upstream request. It replaces
// the client's header of the same name; no Values removes that header.
type Field struct {
	Name   string // canonical form, as http.Header keys
	Values []string
}

// SetUpstream sets the upstream request's header name to values,
// replacing what the client sent and what an earlier stage set; empty
// values remove the header. The first four names cost no allocation.
func (st *State) SetUpstream(name string, values []string) {
	name = textproto.CanonicalMIMEHeaderKey(name)
	if i := FieldIndex(st.UpstreamHeader, name); i >= 0 {
		st.UpstreamHeader[i].Values = values
		return
	}
	if st.UpstreamHeader == nil {
		st.UpstreamHeader = st.upstreamBuf[:0]
	}
	st.UpstreamHeader = append(st.UpstreamHeader, Field{Name: name, Values: values})
}

// UpstreamValues returns the values a stage set for the upstream header name,
// and whether one set it.
func (st *State) UpstreamValues(name string) ([]string, bool) {
	if i := FieldIndex(st.UpstreamHeader, textproto.CanonicalMIMEHeaderKey(name)); i >= 0 {
		return st.UpstreamHeader[i].Values, true
	}
	return nil, false
}

// FieldIndex returns the index of the field named name (canonical) in
// fields, or -1.
func FieldIndex(fields []Field, name string) int {
	for i := range fields {
		if fields[i].Name == name {
			return i
		}
	}
	return -1
}

// AddClientHopByHop records a connection field the client sent
// (ClientHopByHop); the first two cost no allocation.
func (st *State) AddClientHopByHop(name string, values []string) {
	if st.ClientHopByHop == nil {
		st.ClientHopByHop = st.hopBuf[:0]
	}
	st.ClientHopByHop = append(st.ClientHopByHop, Field{Name: name, Values: values})
}

// AddResponseFilter adds f to ResponseFilters; the first two cost no
// allocation.
func (st *State) AddResponseFilter(f func(h http.Header, st *State)) {
	if st.ResponseFilters == nil {
		st.ResponseFilters = st.filterBuf[:0]
	}
	st.ResponseFilters = append(st.ResponseFilters, f)
}

// With returns a context carrying st.
func With(ctx context.Context, st *State) context.Context {
	return context.WithValue(ctx, ctxKey{}, st)
}

// From returns the request's state. Every request served by the gateway
// has one; From panics otherwise, which is a wiring bug.
func From(ctx context.Context) *State {
	return ctx.Value(ctxKey{}).(*State)
}

// Lookup returns the request's state, or nil outside the request path.
func Lookup(ctx context.Context) *State {
	st, _ := ctx.Value(ctxKey{}).(*State)
	return st
}

// Refusal describes why a stage turned a request away.
type Refusal struct {
	Type   problem.Type
	Reason string // machine-readable: not_found, body_too_large, ...
	Stage  string // the request-path stage: route, sanitize, body, proxy ...
	Rule   string // the limit or rule behind it, if any
	Detail string // what the client should do
	Header map[string]string
	Errors []problem.FieldError
}

// Refuse answers the request with a problem, marks the access record, and
// emits a security event. Upstream failures (5xx of the proxy stage) are
// not security decisions and emit no event.
//
// A gRPC call gets the gRPC status that says the same instead
// (docs/grpc.md): a gRPC library reads no HTTP body.
func Refuse(w http.ResponseWriter, r *http.Request, rf Refusal) {
	refuse(w, r, rf, false)
}

// RefuseInCall is Refuse for a gRPC call whose response has begun: the
// status goes out as the call's trailers.
func RefuseInCall(w http.ResponseWriter, r *http.Request, rf Refusal) {
	refuse(w, r, rf, true)
}

func refuse(w http.ResponseWriter, r *http.Request, rf Refusal, started bool) {
	st := From(r.Context())
	p := problem.New(rf.Type, rf.Detail).Rebase(st.ProblemBase)
	p.Errors = rf.Errors
	for k, v := range rf.Header {
		p.With(k, v)
	}
	st.Problem = rf.Type.Slug
	switch {
	case started:
		grpcwire.SetTrailers(w.Header(), GRPCStatus(p, rf.Type.Slug, st.RequestID))
	case grpcwire.KindOf(r) != grpcwire.NotCall:
		h := w.Header()
		for k, vs := range p.Header {
			h[k] = vs
		}
		grpcwire.WriteTrailersOnly(w, grpcwire.KindOf(r), GRPCStatus(p, rf.Type.Slug, st.RequestID))
	default:
		problem.Write(w, p, st.RequestID)
	}
	if st.Refused != nil {
		st.Refused(st.Route, rf.Stage, rf.Reason)
	}
	if rf.Stage == "proxy" {
		return
	}
	st.Events.Publish(observe.Event{
		Type:      "request.refused",
		Reason:    rf.Reason,
		Stage:     rf.Stage,
		Status:    rf.Type.Status,
		Rule:      rf.Rule,
		Detail:    rf.Detail,
		Consumer:  st.Consumer,
		Authz:     st.Authz,
		ClientIP:  st.ClientIP.String(),
		RequestID: st.RequestID,
		Route:     st.Route,
		Method:    r.Method,
		Path:      st.Path,
	})
}

// GRPCStatus is the gRPC status that says what problem p (of type slug)
// says: its code, its detail as the message, and an ErrorInfo detail
// with the reason (the slug, as UPPER_SNAKE_CASE), the problem's type
// URI and the request id; a Retry-After becomes a RetryInfo.
func GRPCStatus(p *problem.Problem, slug, requestID string) *grpcwire.Status {
	s := &grpcwire.Status{Code: grpcwire.CodeForStatus(p.Status), Message: p.Detail, ProblemType: p.Type,
		Reason: strings.ToUpper(strings.ReplaceAll(slug, "-", "_")), Domain: "rampart", Metadata: map[string]string{"type": p.Type}}
	if requestID != "" {
		s.Metadata["request_id"] = requestID
	}
	if ra, err := strconv.Atoi(p.Header.Get("Retry-After")); err == nil && ra > 0 {
		s.RetryAfter = time.Duration(ra) * time.Second
	}
	return s
}

// RefuseResponse is Refuse in place of an upstream response a stage held
// back (the WAF's leak check, the response filters): the upstream's
// headers, already in w's header map, are dropped, and the gateway's own
// (own, taken before the upstream's were added) are what the problem
// carries, as any refusal's do.
func RefuseResponse(w http.ResponseWriter, r *http.Request, own http.Header, rf Refusal) {
	hdr := w.Header()
	for k := range hdr {
		delete(hdr, k)
	}
	for k, vs := range own {
		hdr[k] = vs
	}
	Refuse(w, r, rf)
}
