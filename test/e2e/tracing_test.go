package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type span struct {
	Service    string            `json:"service"`
	TraceID    string            `json:"trace_id"`
	SpanID     string            `json:"span_id"`
	ParentID   string            `json:"parent_span_id"`
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes"`
	Via        string            `json:"via"`
}

// startOTLP runs the OTLP receiver process writing spans to out, and
// returns its gRPC and HTTP addresses.
func startOTLP(t *testing.T, out string) (grpcAddr, httpAddr string) {
	t.Helper()
	p := startBin(t, otlpBinary, "-out", out)
	waitFor(t, 20*time.Second, "otlp receiver", func() bool {
		s := p.stderr.String()
		if i := strings.Index(s, "otlp receiver grpc "); i >= 0 {
			if f := strings.Fields(s[i:]); len(f) >= 6 {
				grpcAddr, httpAddr = f[3], f[5]
				return true
			}
		}
		return false
	})
	return grpcAddr, httpAddr
}

func spansIn(out string) []span {
	b, _ := os.ReadFile(out)
	var spans []span
	for _, line := range strings.Split(string(b), "\n") {
		var s span
		if json.Unmarshal([]byte(line), &s) == nil && s.SpanID != "" {
			spans = append(spans, s)
		}
	}
	return spans
}

// TestTracing: through a real OTLP receiver process, over gRPC and over
// HTTP, a request's spans continue the client's trace: the request span
// is the child of the client's span, each stage's span and the upstream
// call's are the request span's children, the upstream receives the
// upstream span as its parent; and no span carries the API key, the path
// or the query.
func TestTracing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "spans.jsonl")
	grpcAddr, httpAddr := startOTLP(t, out)
	up := startUpstream(t, "api")
	for _, exporter := range []struct{ name, block string }{
		{"grpc", fmt.Sprintf(`{exporter: otlp_grpc, endpoint: %q, insecure: true, service_name: rampart-grpc}`, grpcAddr)},
		{"http", fmt.Sprintf(`{exporter: otlp_http, endpoint: "http://%s", service_name: rampart-http}`, httpAddr)},
	} {
		t.Run(exporter.name, func(t *testing.T) {
			g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
tracing: %s
store: {driver: embedded, path: data/rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  api: {targets: [{url: %s}]}
consumers:
  - {id: acme}
policies:
  keyed:
    authenticate: [keys]
    authorize: {any_authenticated: true}
    rate_limits: [{key: consumer, rate: 100/s, burst: 100}]
routes:
  - {name: orders, match: {paths: ["/v1/orders/**"]}, upstream: api, policy: keyed}
`, exporter.block, up.url()))
			_, key, _ := g.cli("keys", "create", "--consumer", "acme")
			key = strings.TrimSpace(key)
			const traceID, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			var r response
			waitFor(t, 5*time.Second, "the key works", func() bool {
				r = do(t, client, "GET", g.url("/v1/orders/secret-path-42?token=query-secret"), nil, map[string]string{"X-API-Key": key,
					"Traceparent": "00-" + traceID + "-" + clientSpan + "-01"})
				return r.status == 200
			})
			var echoed struct {
				Headers map[string]string `json:"headers"`
			}
			_ = json.Unmarshal(r.body, &echoed)
			upstreamTP := echoed.Headers["Traceparent"]
			if !strings.HasPrefix(upstreamTP, "00-"+traceID+"-") {
				t.Fatalf("the upstream got traceparent %q", upstreamTP)
			}
			service := "rampart-" + exporter.name
			// the 200's request span and its children (401s came first,
			// while the new key synced)
			var req span
			children := map[string]span{}
			waitFor(t, 15*time.Second, "the request's spans at the receiver", func() bool {
				spans := spansIn(out)
				for _, s := range spans {
					if s.Service == service && s.TraceID == traceID && s.Name == "GET orders" && s.Attributes["http.response.status_code"] == "200" {
						req = s
					}
				}
				clear(children)
				for _, s := range spans {
					if req.SpanID != "" && s.ParentID == req.SpanID {
						children[s.Name] = s
					}
				}
				return len(children) >= 5
			})
			for _, s := range spansIn(out) {
				if s.Service != service {
					continue
				}
				if s.Via != exporter.name {
					t.Errorf("span %s came over %s", s.Name, s.Via)
				}
				b, _ := json.Marshal(s)
				for _, secret := range []string{key, "secret-path", "query-secret"} {
					if strings.Contains(string(b), secret) {
						t.Errorf("span %s holds %q: %s", s.Name, secret, b)
					}
				}
			}
			if req.ParentID != clientSpan || req.Attributes["http.route"] != "orders" || req.Attributes["enduser.id"] != "acme" {
				t.Errorf("request span: %+v", req)
			}
			for _, name := range []string{"body_limit", "authenticate", "authorize", "rate_limit", "upstream api"} {
				if _, ok := children[name]; !ok {
					t.Errorf("no %s span under the request span; its children: %v", name, children)
				}
			}
			byName := children
			if up := byName["upstream api"]; upstreamTP != "00-"+traceID+"-"+up.SpanID+"-01" {
				t.Errorf("the upstream got %s, its span is %s", upstreamTP, up.SpanID)
			}
		})
	}
}
