package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func basicConfig(upstreamURL string) string {
	return fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  limits: {max_body_bytes: 64KiB, max_header_bytes: 8KiB}
admin:
  listen: 127.0.0.1:0
upstreams:
  echo:
    targets: [{url: %s}]
policies:
  small:
    validate: {max_body_bytes: 1KiB}
routes:
  - name: orders
    match: {paths: ["/v1/orders", "/v1/orders/{id}"], methods: [GET, POST]}
    upstream: echo
    policy: public
    rewrite: {strip_prefix: /v1}
  - name: order-lines
    match: {paths: ["/v1/orders/{id}/lines/{line}"], methods: [GET]}
    upstream: echo
    policy: public
    rewrite: {path: "/lines/{line}/of/{id}"}
  - name: small
    match: {paths: ["/small/**"]}
    upstream: echo
    policy: small
  - name: host-specific
    match: {hosts: ["*.example.com"], paths: ["/v1/orders/{id}"], methods: [GET]}
    upstream: echo
    policy: public
    rewrite: {add_prefix: /tenant}
  - name: stream
    match: {paths: ["/sse", "/ws", "/status/{code}", "/delay/{ms}", "/bytes/{n}"]}
    upstream: echo
    policy: public
  - name: keep-host
    match: {paths: ["/keep-host"]}
    upstream: echo
    policy: public
    rewrite: {host: preserve}
  - name: set-host
    match: {paths: ["/set-host"]}
    upstream: echo
    policy: public
    rewrite: {host: "orders.internal:8080"}
`, upstreamURL)
}

func TestProxyBasics(t *testing.T) {
	up := startUpstream(t, "u1")
	g := startGateway(t, basicConfig(up.url()))

	t.Run("forwarded with clean headers", func(t *testing.T) {
		r := do(t, client, "GET", g.url("/v1/orders/42?x=1"), nil, map[string]string{
			"X-Forwarded-For": "6.6.6.6", "X-Rampart-Consumer": "admin", "X-Original-URL": "/admin",
			"X-Request-Id": "client-id-1", "Traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		})
		e := echoOf(t, r)
		if e.Path != "/orders/42" || e.Query != "x=1" {
			t.Errorf("upstream saw %s?%s, want /orders/42?x=1 (strip_prefix)", e.Path, e.Query)
		}
		if got := e.Headers["X-Forwarded-For"]; got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q, want the real client 127.0.0.1", got)
		}
		for _, h := range []string{"X-Rampart-Consumer", "X-Original-Url"} {
			if _, ok := e.Headers[h]; ok {
				t.Errorf("%s reached the upstream", h)
			}
		}
		// The client is no trusted proxy: its request id is logged beside
		// the gateway's own, which the upstream and the client get.
		if id := r.header.Get("X-Request-Id"); id == "client-id-1" || e.Headers["X-Request-Id"] != id {
			t.Errorf("request id: upstream %q, response %q, want the gateway's own on both", e.Headers["X-Request-Id"], id)
		}
		waitFor(t, 5*time.Second, "the client's request id in the access log", func() bool {
			for _, l := range g.accessLog(t) {
				if l["client_request_id"] == "client-id-1" && l["request_id"] == r.header.Get("X-Request-Id") {
					return true
				}
			}
			return false
		})
		tp := e.Headers["Traceparent"]
		if !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || strings.Contains(tp, "00f067aa0ba902b7") || !strings.HasSuffix(tp, "-01") {
			t.Errorf("traceparent %q should continue the trace with the gateway as parent", tp)
		}
		if e.Headers["X-Forwarded-Proto"] != "http" || e.Headers["X-Forwarded-Host"] != g.http {
			t.Errorf("forwarded proto/host wrong: %v", e.Headers)
		}
	})
	t.Run("the gateway's own cookies stay with it", func(t *testing.T) {
		// Browsers send cookies by host, whatever the port: the
		// dashboard's session and the challenge pass arrive here too.
		e := echoOf(t, do(t, client, "GET", g.url("/v1/orders/1"), nil, map[string]string{
			"Cookie": "rampart_dashboard=admin-session; theme=dark; rampart_pass=p; rampart_pow=w; rampart_portal_csrf=c"}))
		if c := e.Headers["Cookie"]; c != "theme=dark" {
			t.Errorf("upstream saw Cookie %q, want theme=dark", c)
		}
		e = echoOf(t, do(t, client, "GET", g.url("/v1/orders/1"), nil, map[string]string{"Cookie": "rampart_dashboard=admin-session"}))
		if c, ok := e.Headers["Cookie"]; ok {
			t.Errorf("upstream saw Cookie %q, want none", c)
		}
	})
	t.Run("unsafe request id replaced", func(t *testing.T) {
		r := do(t, client, "GET", g.url("/v1/orders"), nil, map[string]string{"X-Request-Id": "bad id\twith<script>"})
		if id := r.header.Get("X-Request-Id"); len(id) != 32 {
			t.Errorf("request id = %q, want a generated 32-hex id", id)
		}
	})
	t.Run("path template", func(t *testing.T) {
		e := echoOf(t, get(t, g.url("/v1/orders/7/lines/3")))
		if e.Path != "/lines/3/of/7" {
			t.Errorf("path = %s", e.Path)
		}
	})
	t.Run("Host header upstream", func(t *testing.T) {
		for path, want := range map[string]string{"/v1/orders": up.addr, "/keep-host": "shop.example.com", "/set-host": "orders.internal:8080"} {
			r := do(t, client, "GET", g.url(path), nil, map[string]string{"Host": "shop.example.com"})
			var e struct{ Host string }
			if err := json.Unmarshal(r.body, &e); err != nil || e.Host != want {
				t.Errorf("%s: upstream saw Host %q, want %q (%s)", path, e.Host, want, r.body)
			}
		}
	})
	t.Run("wildcard host and add_prefix", func(t *testing.T) {
		e := echoOf(t, do(t, client, "GET", g.url("/v1/orders/9"), nil, map[string]string{"Host": "eu.example.com"}))
		if e.Path != "/tenant/v1/orders/9" {
			t.Errorf("path = %s", e.Path)
		}
	})
	t.Run("404", func(t *testing.T) {
		p := problemOf(t, get(t, g.url("/nope")), 404)
		if p["type"] != "tag:rampart-gw.github.io,2026:problems/not-found" {
			t.Errorf("type = %v", p["type"])
		}
	})
	t.Run("405 with Allow", func(t *testing.T) {
		r := do(t, client, "DELETE", g.url("/v1/orders/1"), nil, nil)
		problemOf(t, r, 405)
		if a := r.header.Get("Allow"); a != "GET, HEAD, POST" {
			t.Errorf("Allow = %q", a)
		}
		// The path matched a route: the refusal is that route's.
		g.metricsHave(t, `rampart_requests_total{code="405",route="orders"} 1`)
	})
	t.Run("413 by Content-Length", func(t *testing.T) {
		problemOf(t, do(t, client, "POST", g.url("/small/x"), bytes.NewReader(make([]byte, 2048)), nil), 413)
	})
	t.Run("413 while streaming a chunked body", func(t *testing.T) {
		// A body with no Content-Length must be cut off as it streams.
		problemOf(t, postStreamed(t, g.url("/small/x"), strings.Repeat("a", 1600)), 413)
	})
	t.Run("body at the limit passes", func(t *testing.T) {
		e := echoOf(t, do(t, client, "POST", g.url("/small/x"), bytes.NewReader(make([]byte, 1024)), nil))
		if e.BodyBytes != 1024 {
			t.Errorf("upstream got %d bytes", e.BodyBytes)
		}
	})
	t.Run("streamed bodies of unknown length reach the upstream whole", func(t *testing.T) {
		// No Content-Length: this takes net/http's Transport (the
		// synchronous client only writes small declared bodies).
		if e := echoOf(t, postStreamed(t, g.url("/v1/orders"), strings.Repeat("z", 50000))); e.BodyBytes != 50000 {
			t.Errorf("upstream got %d bytes", e.BodyBytes)
		}
	})
	t.Run("431 problem for large headers", func(t *testing.T) {
		p := problemOf(t, do(t, client, "GET", g.url("/v1/orders"), nil, map[string]string{"X-Big": strings.Repeat("x", 9000)}), 431)
		if !strings.Contains(p["detail"].(string), "limit is 8192") {
			t.Errorf("detail = %v", p["detail"])
		}
	})
	t.Run("431 counts headers the gateway strips", func(t *testing.T) {
		problemOf(t, do(t, client, "GET", g.url("/v1/orders"), nil, map[string]string{"X-Forwarded-For": strings.Repeat("1.2.3.4, ", 1000)}), 431)
	})
	t.Run("paths normalised once, for routing and the upstream alike", func(t *testing.T) {
		for path, want := range map[string]string{
			// the route strips /v1
			"/v1//orders":          "/orders",
			"/v1/x/../orders":      "/orders",
			"/v1/%6Frders/./a%7eb": "/orders/a~b",
		} {
			resp := rawRequest(t, g.http, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(resp, "HTTP/1.1 200") || !strings.Contains(resp, `"path": "`+want+`"`) {
				t.Errorf("%s: want the upstream to see %s, got %q", path, want, tail(resp, 300))
			}
		}
	})
	t.Run("encoded slashes, NUL and climbing above the root refused", func(t *testing.T) {
		for _, path := range []string{"/v1/orders/..%2f..%2fadmin", "/v1/orders%5Cadmin", "/v1/orders/%00", "/v1/../../etc/passwd"} {
			resp := rawRequest(t, g.http, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(resp, "HTTP/1.1 400") || !strings.Contains(resp, "application/problem+json") {
				t.Errorf("%s: got %q", path, tail(resp, 300))
			}
		}
	})
	t.Run("CL+TE refused as smuggling", func(t *testing.T) {
		// RFC 9112 §6.1 lets a server refuse it and requires closing the
		// connection; TestSmuggling covers every variant.
		resp := rawRequest(t, g.http, "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 400") || !strings.Contains(resp, "malformed-request") || !strings.Contains(resp, "Connection: close") {
			t.Errorf("got %q", tail(resp, 400))
		}
	})
	t.Run("malformed request line gets a clean 400", func(t *testing.T) {
		resp := rawRequest(t, g.http, "GET /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 400") || !strings.Contains(resp, "application/problem+json") {
			t.Errorf("got %q", tail(resp, 200))
		}
	})
	t.Run("upstream error statuses pass through", func(t *testing.T) {
		if r := get(t, g.url("/status/503")); r.status != 503 || r.header.Get("X-Upstream") != "u1" {
			t.Errorf("status = %d", r.status)
		}
	})
	t.Run("events for refusals", func(t *testing.T) {
		waitFor(t, 5e9, "security events", func() bool {
			reasons := map[string]bool{}
			for _, e := range g.events() {
				reasons[e["reason"].(string)] = true
			}
			return reasons["not_found"] && reasons["method_not_allowed"] && reasons["body_too_large"] && reasons["headers_too_large"] && reasons["non_canonical_path"]
		})
	})
	t.Run("access log", func(t *testing.T) {
		waitFor(t, 5e9, "access log", func() bool { return len(g.accessLog(t)) >= 10 })
		for _, l := range g.accessLog(t) {
			if l["request_id"] == "" || l["status"] == nil || l["duration_ms"] == nil {
				t.Errorf("incomplete access log line: %v", l)
			}
		}
	})
}

func TestAccessLogRedactsCredentials(t *testing.T) {
	up := startUpstream(t, "u1")
	cfg := strings.Replace(basicConfig(up.url()), "admin:\n", "access_log: {headers: [Authorization, X-Trace-Me]}\nadmin:\n", 1)
	g := startGateway(t, cfg)
	do(t, client, "GET", g.url("/v1/orders?api_key=sekrit-key&page=2&access_token=tok-123"), nil, map[string]string{
		"Authorization": "Bearer sekrit-bearer", "X-Trace-Me": "visible", "Cookie": "session=sekrit-cookie"})
	waitFor(t, 5e9, "access log line", func() bool { return len(g.accessLog(t)) > 0 })
	out := g.stdout.String()
	for _, secret := range []string{"sekrit-key", "tok-123", "sekrit-bearer", "sekrit-cookie"} {
		if strings.Contains(out, secret) {
			t.Errorf("access log leaks %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "visible") || !strings.Contains(out, "page=2") {
		t.Errorf("access log lost non-secret data:\n%s", out)
	}
}

// TestProblemTypeBase: problems.type_base names the operator's own
// documentation in every problem type, on the traffic listeners and the
// admin API alike.
func TestProblemTypeBase(t *testing.T) {
	up := startUpstream(t, "u1")
	g := startGateway(t, basicConfig(up.url())+"problems: {type_base: \"https://developer.example.com/problems/\"}\n")
	if p := problemOf(t, get(t, g.url("/nope")), 404); p["type"] != "https://developer.example.com/problems/not-found" {
		t.Errorf("type = %v", p["type"])
	}
	if p := problemOf(t, get(t, "http://"+g.admin+"/nope"), 404); p["type"] != "https://developer.example.com/problems/not-found" {
		t.Errorf("admin type = %v", p["type"])
	}
}
