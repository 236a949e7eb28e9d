// Package tracing exports OpenTelemetry traces of the request path: a
// server span for each request (continuing the client's W3C trace), a
// child span for each stage from the moment it gets the request to the
// moment it hands it on (or answers itself), and a client span for the
// upstream call, whose context is what the upstream receives in
// traceparent. Spans go out in batches over OTLP (gRPC or HTTP) on the
// SDK's own goroutine; a slow collector costs dropped spans, never
// request time.
//
// Attributes name the route, method, status, client address, request id
// and consumer: never a path, a query, a header or a body, which is where
// credentials and personal data travel.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Options configure the tracer.
type Options struct {
	Exporter    string // otlp_grpc | otlp_http
	Endpoint    string // otlp_grpc: host:port; otlp_http: a URL
	Insecure    bool   // otlp_grpc without TLS
	SampleRatio float64
	ServiceName string
	Version     string
	// Redact is applied to every string attribute (observe.Redactor.Text);
	// nil leaves them.
	Redact func(string) string
}

// Tracer makes the gateway's spans.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	t      trace.Tracer
	prop   propagation.TraceContext
	redact func(string) string
}

// New starts the exporter and the batching span processor.
func New(ctx context.Context, o Options) (*Tracer, error) {
	var exp sdktrace.SpanExporter
	var err error
	switch o.Exporter {
	case "otlp_grpc":
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.Endpoint)}
		if o.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case "otlp_http":
		u, perr := url.Parse(o.Endpoint)
		if perr != nil {
			return nil, perr
		}
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(u.Host)}
		if u.Scheme == "http" {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		p := u.Path
		if p == "" || p == "/" {
			p = "/v1/traces"
		}
		opts = append(opts, otlptracehttp.WithURLPath(p))
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("unknown trace exporter %q", o.Exporter)
	}
	if err != nil {
		return nil, err
	}
	ratio := o.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	name := o.ServiceName
	if name == "" {
		name = "rampart"
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name), semconv.ServiceVersion(o.Version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))))
	redact := o.Redact
	if redact == nil {
		redact = func(s string) string { return s }
	}
	return &Tracer{tp: tp, t: tp.Tracer("github.com/rampart-gw/rampart"), redact: redact}, nil
}

// Shutdown sends the spans still queued and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// StartRequest starts the request's server span, continuing the trace
// of the client's traceparent when it sent a valid one.
func (t *Tracer) StartRequest(r *http.Request) (context.Context, trace.Span) {
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	return t.t.Start(ctx, "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method)))
}

// FinishRequest names the span after the route and records the outcome.
func (t *Tracer) FinishRequest(span trace.Span, st *reqctx.State) {
	rec := &st.AccessRecord
	attrs := []attribute.KeyValue{attribute.Int("http.response.status_code", rec.Status), attribute.String("client.address", rec.ClientIP),
		attribute.String("rampart.request_id", rec.RequestID)}
	if rec.Route != "" {
		span.SetName(rec.Method + " " + rec.Route)
		attrs = append(attrs, attribute.String("http.route", rec.Route))
	}
	if st.Consumer != "" {
		attrs = append(attrs, attribute.String("enduser.id", t.redact(st.Consumer)))
	}
	if st.Problem != "" {
		attrs = append(attrs, attribute.String("rampart.problem", st.Problem))
	}
	span.SetAttributes(attrs...)
	if rec.Status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(rec.Status))
	}
	span.End()
}

// TraceParent is the W3C traceparent of span's context.
func TraceParent(span trace.Span) string {
	sc := span.SpanContext()
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// Stage returns wrap with a span around a stage's own part of the
// request: started when the stage gets the request, ended when it hands
// the request on, or when it returns having answered itself (then the
// span carries the problem it answered with).
func (t *Tracer) Stage(name string, wrap func(next http.Handler) http.Handler) func(next http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		inner := wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			stage := trace.SpanFromContext(ctx)
			stage.End()
			// the next stage is the request span's child, not this one's
			parent, _ := ctx.Value(parentKey{}).(trace.Span)
			next.ServeHTTP(w, r.WithContext(trace.ContextWithSpan(ctx, parent)))
		}))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			parent := trace.SpanFromContext(r.Context())
			if !parent.SpanContext().IsValid() {
				inner.ServeHTTP(w, r)
				return
			}
			ctx, span := t.t.Start(r.Context(), name)
			ctx = context.WithValue(ctx, parentKey{}, parent)
			inner.ServeHTTP(w, r.WithContext(ctx))
			if span.IsRecording() {
				if st := reqctx.From(r.Context()); st != nil && st.Problem != "" {
					span.SetAttributes(attribute.String("rampart.problem", st.Problem))
					span.SetStatus(codes.Error, st.Problem)
				}
			}
			span.End() // a no-op when the stage handed on
		})
	}
}

type parentKey struct{}

// Upstream wraps the proxy with the client span of the upstream call and
// sets the traceparent the upstream receives to it.
func (t *Tracer) Upstream(upstream string, proxy http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !trace.SpanFromContext(r.Context()).SpanContext().IsValid() {
			proxy.ServeHTTP(w, r)
			return
		}
		ctx, span := t.t.Start(r.Context(), "upstream "+upstream, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("rampart.upstream", upstream)))
		st := reqctx.From(ctx)
		st.TraceParent = TraceParent(span)
		proxy.ServeHTTP(w, r.WithContext(ctx))
		rec := &st.AccessRecord
		if rec.UpstreamStatus != 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", rec.UpstreamStatus))
		}
		if rec.UpstreamStatus >= 500 || rec.UpstreamStatus == 0 && strings.HasPrefix(st.Problem, "upstream") {
			span.SetStatus(codes.Error, "upstream failed")
		}
		span.End()
	})
}
