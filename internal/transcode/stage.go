package transcode

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/rampart-gw/rampart/internal/grpcwire"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/heldreply"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// DefaultMaxReply bounds a reply's message, as gRPC's default receive
// limit does.
const DefaultMaxReply = 4 << 20

// Stage is a route's transcoder, last before the proxy.
type Stage struct {
	set      *Set
	maxReply int
}

// New makes the stage of a route's bindings; maxReply bounds the reply
// held for conversion (DefaultMaxReply when 0).
func New(set *Set, maxReply int) *Stage {
	if maxReply <= 0 {
		maxReply = DefaultMaxReply
	}
	return &Stage{set: set, maxReply: maxReply}
}

// Name names the stage in traces and docs/architecture.md.
func (s *Stage) Name() string { return "transcode" }

var trailers = []string{"trailers"}

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		b, vals, pathMatched := s.set.find(r.Method, r.URL.EscapedPath())
		if b == nil {
			s.refuseUnbound(w, r, pathMatched)
			return
		}
		var body []byte
		if guard.HasBody(r) {
			var ok bool
			if body, ok = guard.ReadBody(w, r); !ok {
				return
			}
			if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); (b.bodyAll || b.body != nil) && !guard.IsJSON(strings.ToLower(strings.TrimSpace(mt))) {
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.UnsupportedMediaType, Reason: "not_json", Stage: "transcode",
					Detail: "This operation takes a JSON body: send it with Content-Type: application/json."})
				return
			}
		}
		msg, err := b.message(vals, r.URL.RawQuery, body)
		if err != nil {
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.InvalidBody, Reason: "invalid_request", Stage: "transcode",
				Detail: "The request does not make a valid " + string(b.method.Input().Name()) + ": " + err.Error() + "."})
			return
		}
		payload, err := proto.Marshal(msg)
		if err != nil {
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.InvalidBody, Reason: "invalid_request", Stage: "transcode",
				Detail: "The request does not make a valid " + string(b.method.Input().Name()) + "."})
			return
		}
		call := grpcwire.Frame(make([]byte, 0, grpcwire.PrefixLen+len(payload)), payload)
		// the upstream gets the gRPC call
		heldreply.Post(r, st, b.path, call, grpcwire.ContentType)
		st.SetUpstream("Te", trailers)
		st.SetUpstream("Accept", nil)
		rw := heldreply.New(w, st, s.maxReply+grpcwire.PrefixLen)
		next.ServeHTTP(rw, r)
		finish(rw, r, b)
	})
}

// refuseUnbound answers a request no rule binds: 405 when a rule has its
// path with another method.
func (s *Stage) refuseUnbound(w http.ResponseWriter, r *http.Request, pathMatched bool) {
	if pathMatched {
		var allow []string
		for _, b := range s.set.bindings {
			if _, ok := b.tmpl.match(r.URL.EscapedPath()); ok && !slices.Contains(allow, b.verb) {
				allow = append(allow, b.verb)
			}
		}
		reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.MethodNotAllowed, Reason: "method_not_allowed", Stage: "transcode",
			Detail: "This operation takes " + strings.Join(allow, ", ") + ".", Header: map[string]string{"Allow": strings.Join(allow, ", ")}})
		return
	}
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.NotFound, Reason: "not_found", Stage: "transcode",
		Detail: fmt.Sprintf("No operation of this API is at %s %s. Check the URL against the API documentation.", r.Method, problem.Clip(r.URL.Path, 128))})
}

// finish answers with the reply as JSON, or the call's status as a
// problem.
func finish(w *heldreply.Writer, r *http.Request, b *binding) {
	if !w.Held() {
		return
	}
	h := w.Header()
	fail := func(reason, detail string) {
		w.Refuse(r, reqctx.Refusal{Type: problem.BadGateway, Reason: reason, Stage: "proxy", Detail: detail})
	}
	if w.Over {
		fail("reply_too_large", "The service's reply is larger than this operation passes on.")
		return
	}
	if w.Status != http.StatusOK || !grpcwire.IsGRPC(h.Get("Content-Type")) {
		fail("not_grpc", fmt.Sprintf("The service did not answer as a gRPC service (HTTP %d).", w.Status))
		return
	}
	status, message := trailer(h, grpcwire.HeaderStatus), trailer(h, grpcwire.HeaderMessage)
	code, err := strconv.ParseUint(status, 10, 32)
	if err != nil {
		fail("no_status", "The service's reply ended without a gRPC status.")
		return
	}
	if code != 0 {
		refuseStatus(w, r, grpcwire.Code(code), message)
		return
	}
	reply, err := decode(w.Body, b)
	if err != nil {
		fail("bad_reply", "The service's reply is not a "+string(b.method.Output().Name())+": "+err.Error()+".")
		return
	}
	w.WriteJSON(reply, "Grpc-")
}

// trailer is a trailer field of the reply, or its header in a
// Trailers-Only reply.
func trailer(h http.Header, name string) string {
	if vs := h[http.TrailerPrefix+name]; len(vs) > 0 {
		return vs[0]
	}
	return h.Get(name)
}

// decode reads the reply's one message as JSON.
func decode(body []byte, b *binding) ([]byte, error) {
	if len(body) < grpcwire.PrefixLen || body[0] != 0 {
		return nil, errors.New("no uncompressed message")
	}
	n := binary.BigEndian.Uint32(body[1:grpcwire.PrefixLen])
	if uint64(len(body)-grpcwire.PrefixLen) != uint64(n) {
		return nil, errors.New("not one whole message")
	}
	msg := dynamicpb.NewMessage(b.method.Output())
	if err := proto.Unmarshal(body[grpcwire.PrefixLen:], msg); err != nil {
		return nil, errors.New("its encoding is broken")
	}
	js, err := protojson.MarshalOptions{}.Marshal(msg)
	if err != nil {
		return nil, err
	}
	// protojson varies its spacing from build to build: the same reply
	// is sent as the same bytes
	var compact bytes.Buffer
	if err := json.Compact(&compact, js); err != nil {
		return nil, err
	}
	out := compact.Bytes()
	if f := b.responseBody; f != nil {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(out, &fields); err != nil {
			return nil, err
		}
		out = fields[f.JSONName()]
		if out == nil {
			out = []byte("null")
		}
	}
	return append(out, '\n'), nil
}

// statusOf is the HTTP status that says what a gRPC code says
// (google.rpc.Code's mapping).
var statusOf = map[grpcwire.Code]int{
	grpcwire.Canceled: 499, grpcwire.Unknown: 500, grpcwire.InvalidArgument: 400, grpcwire.DeadlineExceeded: 504,
	grpcwire.NotFound: 404, grpcwire.AlreadyExists: 409, grpcwire.PermissionDenied: 403, grpcwire.ResourceExhausted: 429,
	grpcwire.FailedPrecondition: 400, grpcwire.Aborted: 409, grpcwire.OutOfRange: 400, grpcwire.Unimplemented: 501,
	grpcwire.Internal: 500, grpcwire.Unavailable: 503, grpcwire.DataLoss: 500, grpcwire.Unauthenticated: 401,
}

// refuseStatus answers a call that ended with an error status as an
// upstream-error problem: the service's message is the detail for a
// client's error, and withheld for the service's own (it may say what a
// client must not see).
func refuseStatus(w *heldreply.Writer, r *http.Request, code grpcwire.Code, message string) {
	st := statusOf[code]
	if st == 0 {
		st = 500
	}
	t := problem.UpstreamError
	t.Status = st
	detail := fmt.Sprintf("The service failed (%s). Retry later; if it persists, report the request id to the API operator.", code)
	if st < 500 {
		if m, err := url.PathUnescape(message); err == nil {
			message = m
		}
		detail = fmt.Sprintf("The service refused the request (%s): %s", code, problem.Clip(message, 512))
	}
	w.Refuse(r, reqctx.Refusal{Type: t, Reason: "upstream_" + strings.ToLower(code.String()), Stage: "proxy", Detail: detail})
}
