// Command otlpreceiver is the OpenTelemetry receiver of the end-to-end
// tests: a separate process speaking OTLP over gRPC (the collector's
// TraceService) and over HTTP (POST /v1/traces, protobuf), as a
// collector does. Each span received is appended to -out as one JSON
// line.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
)

type span struct {
	Service    string            `json:"service"`
	TraceID    string            `json:"trace_id"`
	SpanID     string            `json:"span_id"`
	ParentID   string            `json:"parent_span_id"`
	Name       string            `json:"name"`
	Kind       int32             `json:"kind"`
	Attributes map[string]string `json:"attributes"`
	Via        string            `json:"via"`
}

type receiver struct {
	coltrace.UnimplementedTraceServiceServer
	mu  sync.Mutex
	out *os.File
}

func value(v *common.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *common.AnyValue_StringValue:
		return x.StringValue
	case *common.AnyValue_IntValue:
		return fmt.Sprint(x.IntValue)
	case *common.AnyValue_BoolValue:
		return fmt.Sprint(x.BoolValue)
	case *common.AnyValue_DoubleValue:
		return fmt.Sprint(x.DoubleValue)
	}
	return v.String()
}

func (rc *receiver) record(req *coltrace.ExportTraceServiceRequest, via string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = value(a.GetValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := span{Service: service, TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: int32(s.GetKind()), Attributes: map[string]string{}, Via: via}
				for _, a := range s.GetAttributes() {
					sp.Attributes[a.GetKey()] = value(a.GetValue())
				}
				line, _ := json.Marshal(sp)
				_, _ = rc.out.Write(append(line, '\n'))
			}
		}
	}
}

// Export implements the collector's TraceService.
func (rc *receiver) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	rc.record(req, "grpc")
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "OTLP/gRPC address")
	httpAddr := flag.String("http", "127.0.0.1:0", "OTLP/HTTP address")
	out := flag.String("out", "spans.jsonl", "where spans go")
	flag.Parse()
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	rc := &receiver{out: f}
	gl, err := net.Listen("tcp", *grpcAddr)
	if err != nil {
		log.Fatal(err)
	}
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(srv, rc)
	go func() { log.Fatal(srv.Serve(gl)) }()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		var req coltrace.ExportTraceServiceRequest
		if err != nil || proto.Unmarshal(b, &req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		rc.record(&req, "http")
		resp, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	})
	fmt.Fprintf(os.Stderr, "otlp receiver grpc %s http %s\n", gl.Addr(), hl.Addr())
	log.Fatal((&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(hl))
}
