// Package grpcguard is the stage of a gRPC route (docs/grpc.md). It
// admits gRPC calls over HTTP/2 only, caps each call's deadline and
// passes what is left of it upstream, bounds every message of a call's
// request stream in place of the body limit, and asks the upstream for
// trailers. The refusals themselves reach gRPC clients as gRPC statuses
// through reqctx.Refuse, whichever stage makes them.
package grpcguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/grpcwire"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Defaults of a route's grpc: settings.
const (
	// DefaultMaxMessageBytes is gRPC's own default receive limit.
	DefaultMaxMessageBytes = 4 << 20
	// MaxMessageBytesLimit bounds max_message_bytes.
	MaxMessageBytesLimit = 64 << 20
	DefaultMaxTimeout    = 5 * time.Minute
)

// Stage is a gRPC route's guard.
type Stage struct {
	maxMessage uint32
	maxTimeout time.Duration
	web        bool // gRPC-Web calls are taken too
}

// New compiles a route's grpc settings.
func New(g *config.RouteGRPC) *Stage {
	s := &Stage{maxMessage: DefaultMaxMessageBytes, maxTimeout: DefaultMaxTimeout}
	if g.MaxMessageBytes > 0 {
		s.maxMessage = uint32(min(int64(g.MaxMessageBytes), MaxMessageBytesLimit))
	}
	if g.MaxTimeout > 0 {
		s.maxTimeout = g.MaxTimeout.D()
	}
	s.web = g.Web
	return s
}

// Name names the stage in traces and docs/architecture.md (stage 8 on a
// gRPC route).
func (s *Stage) Name() string { return "grpc" }

var trailers = []string{"trailers"}

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		kind := grpcwire.KindOf(r)
		switch {
		case kind == grpcwire.NotCall, kind != grpcwire.GRPC && !s.web:
			detail := "This endpoint serves gRPC: call it with a gRPC client (Content-Type: application/grpc, over HTTP/2)."
			if s.web {
				detail = "This endpoint serves gRPC and gRPC-Web: call it with a gRPC client (Content-Type: application/grpc, over HTTP/2) or a gRPC-Web client (application/grpc-web, application/grpc-web-text)."
			}
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.UnsupportedMediaType, Reason: "not_grpc", Stage: "grpc", Detail: detail})
			return
		case kind == grpcwire.GRPC && r.ProtoMajor != 2:
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.HTTPVersionNotSupported, Reason: "grpc_needs_http2", Stage: "grpc",
				Detail: "gRPC runs over HTTP/2: call this endpoint over HTTP/2 (TLS with ALPN h2, or cleartext with prior knowledge)."})
			return
		case r.Method != http.MethodPost:
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.MethodNotAllowed, Reason: "method_not_allowed", Stage: "grpc",
				Detail: "A gRPC call is a POST.", Header: map[string]string{"Allow": http.MethodPost}})
			return
		}
		timeout := s.maxTimeout
		if vs := r.Header["Grpc-Timeout"]; len(vs) > 0 {
			d, ok := grpcwire.ParseTimeout(vs[0])
			if !ok || len(vs) > 1 {
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.BadRequest, Reason: "invalid_timeout", Stage: "grpc",
					Detail: "The grpc-timeout header is not a gRPC timeout: send one value of 1 to 8 digits and a unit (H, M, S, m, u or n), for example 250m."})
				return
			}
			timeout = min(d, timeout)
		}
		deadline := time.Now().Add(timeout)
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		// The call's deadline bounds its request stream too, in place of
		// the body timeout: a stream's messages may come slowly.
		_ = http.NewResponseController(w).SetReadDeadline(deadline)
		st.SetUpstream("Grpc-Timeout", []string{grpcwire.FormatTimeout(timeout)})
		st.SetUpstream("Te", trailers)
		var body io.Reader = r.Body
		if kind != grpcwire.GRPC {
			// the upstream gets a gRPC call
			st.SetUpstream("Content-Type", []string{grpcwire.ContentType})
			if kind == grpcwire.WebText && r.Body != nil && r.Body != http.NoBody {
				body = &textDecoder{r: r.Body}
				r.ContentLength = -1
			}
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &callBody{rc: r.Body, st: st, l: grpcwire.Limiter{R: body, Max: s.maxMessage}}
		}
		r = r.WithContext(ctx)
		if kind == grpcwire.GRPC {
			next.ServeHTTP(w, r)
			return
		}
		ww := newWebWriter(w, kind)
		next.ServeHTTP(ww, r)
		ww.finish()
	})
}

// callBody is a call's request stream, its messages bounded.
type callBody struct {
	rc io.ReadCloser
	st *reqctx.State
	l  grpcwire.Limiter
}

func (b *callBody) Read(p []byte) (int, error) {
	n, err := b.l.Read(p)
	b.st.BytesIn += int64(n)
	var me *grpcwire.MessageError
	switch {
	case err == nil || err == io.EOF:
	case errors.As(err, &me) && me.Reason == "message_too_large":
		err = &refused{err, reqctx.Refusal{Type: problem.PayloadTooLarge, Reason: "message_too_large", Stage: "grpc", Rule: "max_message_bytes",
			Detail: fmt.Sprintf("The call sent a message of %d bytes; this endpoint accepts messages of up to %d bytes. Send smaller messages.", me.Size, me.Limit)}}
	case errors.As(err, &me):
		err = &refused{err, reqctx.Refusal{Type: problem.MalformedRequest, Reason: "grpc_framing", Stage: "grpc", Rule: "grpc_framing",
			Detail: "The call's request stream is not framed as gRPC messages (" + me.Error() + ")."}}
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = &refused{err, reqctx.Refusal{Type: problem.RequestTimeout, Reason: "deadline_exceeded", Stage: "grpc",
			Detail: "The call's deadline passed while its request stream was still being sent."}}
	}
	return n, err
}

func (b *callBody) Close() error { return b.rc.Close() }

// refused is a read error that says how its call is refused
// (guard.BodyRefusal).
type refused struct {
	err error
	rf  reqctx.Refusal
}

func (e *refused) Error() string           { return e.err.Error() }
func (e *refused) Unwrap() error           { return e.err }
func (e *refused) Refusal() reqctx.Refusal { return e.rf }
