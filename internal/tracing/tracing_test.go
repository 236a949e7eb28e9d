package tracing

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// TestStageSpans: stage spans are the request span's children, not each
// other's; one that refuses carries the problem; the upstream span is the
// parent the upstream is told of.
func TestStageSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := &Tracer{tp: tp, t: tp.Tracer("test"), redact: func(s string) string { return s }}
	pass := func(next http.Handler) http.Handler { return next }
	refuse := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reqctx.From(r.Context()).Problem = "forbidden"
			w.WriteHeader(http.StatusForbidden)
		})
	}
	var sentParent string
	upstream := tr.Upstream("api", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sentParent = reqctx.From(r.Context()).TraceParent
	}))
	for _, tc := range []struct {
		name    string
		chain   http.Handler
		stages  []string
		refused string
	}{
		{"passes", tr.Stage("a", pass)(tr.Stage("b", pass)(upstream)), []string{"a", "b", "upstream api"}, ""},
		{"refused", tr.Stage("a", pass)(tr.Stage("authorize", refuse)(upstream)), []string{"a", "authorize"}, "authorize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp.Reset()
			sentParent = ""
			r := httptest.NewRequest("GET", "/x", nil)
			st := &reqctx.State{}
			r = r.WithContext(reqctx.With(context.Background(), st))
			ctx, span := tr.StartRequest(r)
			tc.chain.ServeHTTP(httptest.NewRecorder(), r.WithContext(ctx))
			tr.FinishRequest(span, st)
			got := exp.GetSpans()
			byName := map[string]tracetest.SpanStub{}
			for _, s := range got {
				byName[s.Name] = s
			}
			req := byName["HTTP GET"]
			for _, name := range tc.stages {
				s, ok := byName[name]
				if !ok || s.Parent.SpanID() != req.SpanContext.SpanID() {
					t.Errorf("%s: present %v, parent %v, want the request span %v", name, ok, s.Parent.SpanID(), req.SpanContext.SpanID())
				}
			}
			if len(got) != len(tc.stages)+1 {
				t.Errorf("%d spans, want %d", len(got), len(tc.stages)+1)
			}
			if tc.refused != "" && byName[tc.refused].Status.Description != "forbidden" {
				t.Errorf("the refusing stage's status: %+v", byName[tc.refused].Status)
			}
			if up, ok := byName["upstream api"]; ok {
				sc := up.SpanContext
				if want := fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags()); sentParent != want {
					t.Errorf("the upstream was told %q, want %q", sentParent, want)
				}
			}
		})
	}
}
