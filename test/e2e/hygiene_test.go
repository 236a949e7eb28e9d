package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// seenRequest is what the recording upstream parsed of one request.
type seenRequest struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
}

// recorder is an upstream that logs every request it parsed (with
// net/http, the reference) and answers "ok".
type recorder struct {
	mu   sync.Mutex
	reqs []seenRequest
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, seenRequest{Method: r.Method, URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: string(b)})
	rc.mu.Unlock()
	fmt.Fprint(w, "ok")
}

// all returns the requests seen so far.
func (rc *recorder) all() []seenRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]seenRequest(nil), rc.reqs...)
}

// with returns the requests whose target contains s.
func (rc *recorder) with(s string) []seenRequest {
	var out []seenRequest
	for _, r := range rc.all() {
		if strings.Contains(r.URI, s) {
			out = append(out, r)
		}
	}
	return out
}

// hygieneGateway runs a gateway with the routes the hygiene tests use in
// front of a recording upstream. extra is added under server:.
func hygieneGateway(t *testing.T, extraServer string) (*gw, *recorder, *pki) {
	t.Helper()
	rec := &recorder{}
	up := serveUpstream(t, rec)
	dir := t.TempDir()
	p := newPKI(t, dir)
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: server.pem, key_file: server.key}]
%s
admin: {listen: 127.0.0.1:0}
store: {driver: embedded, path: data/rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
policies:
  locked: {authenticate: [keys], authorize: {any_authenticated: true}}
upstreams:
  app:
    targets: [{url: "http://%s"}]
    health_check: {passive: {consecutive_failures: 3, eject_for: 1m}}
routes:
  - {name: api, match: {paths: ["/api/**"]}, upstream: app, policy: public}
  - {name: admin, match: {paths: ["/admin/**"]}, upstream: app, policy: locked}
  - {name: search, match: {paths: ["/search"]}, upstream: app, policy: public, allow_get_body: true}
  - {name: legacy, match: {paths: ["/legacy/**"]}, upstream: app, policy: public, path_parameters: strip}
`, extraServer, up))
	return g, rec, p
}

// exchange writes raw on one connection and reads every response until
// the gateway closes it or 3s pass. It returns the statuses, the problem
// reasons' details, and whether the gateway closed the connection.
func exchange(t *testing.T, c net.Conn, raw string) (statuses []int, bodies []string, closed bool) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(c)
	for {
		res, err := http.ReadResponse(rd, nil)
		if err != nil {
			var ne net.Error
			closed = !(errors.As(err, &ne) && ne.Timeout())
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		statuses = append(statuses, res.StatusCode)
		bodies = append(bodies, string(b))
		if res.Close {
			_, err := rd.ReadByte()
			closed = err != nil
			return
		}
	}
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestExpectContinue: a client that sends Expect: 100-continue gets the
// interim 100 before it sends its body, and the body reaches the
// upstream; any other expectation is a malformed-request problem (not
// net/http's plain-text 417); an HTTP/1.0 client's expectation is
// ignored (RFC 9110 §10.1.1).
func TestExpectContinue(t *testing.T) {
	g, rec, _ := hygieneGateway(t, "")
	t.Run("100 before the body", func(t *testing.T) {
		c := dialRaw(t, g.http)
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(c, "POST /api/continue HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(c)
		interim, err := http.ReadResponse(rd, nil)
		if err != nil || interim.StatusCode != 100 {
			t.Fatalf("before the body: %v %v", interim, err)
		}
		if _, err := io.WriteString(c, "hello"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(rd, nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("after the body: %v %v", res, err)
		}
		if seen := rec.with("/api/continue"); len(seen) != 1 || seen[0].Body != "hello" {
			t.Fatalf("upstream saw %+v", seen)
		}
	})
	t.Run("with Go's client", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
		defer c.CloseIdleConnections()
		start := time.Now()
		r := do(t, c, "POST", g.url("/api/continue-go"), strings.NewReader("payload"), map[string]string{"Expect": "100-continue"})
		if r.status != 200 || time.Since(start) > 4*time.Second {
			t.Fatalf("%d after %v: %s", r.status, time.Since(start), r.body)
		}
		if seen := rec.with("/api/continue-go"); len(seen) != 1 || seen[0].Body != "payload" {
			t.Fatalf("upstream saw %+v", seen)
		}
	})
	for _, tc := range []struct{ name, expect string }{
		{"another expectation", "Expect: magic\r\n"},
		{"100-continue and another", "Expect: 100-continue, magic\r\n"},
		{"two Expect headers", "Expect: 100-continue\r\nExpect: 100-continue\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, g.http)
			statuses, bodies, closed := exchange(t, c, "POST /api/expect-refused HTTP/1.1\r\nHost: x\r\n"+tc.expect+"Content-Length: 2\r\n\r\nhi")
			if len(statuses) != 1 || statuses[0] != 400 || !closed {
				t.Fatalf("got %v %q closed=%v", statuses, bodies, closed)
			}
			var p map[string]any
			_ = json.Unmarshal([]byte(bodies[0]), &p)
			if !strings.HasSuffix(fmt.Sprint(p["type"]), "malformed-request") || !strings.Contains(fmt.Sprint(p["detail"]), "Expect") {
				t.Fatalf("problem %s", bodies[0])
			}
		})
	}
	if n := len(rec.with("/api/expect-refused")); n != 0 {
		t.Errorf("%d refused expectations reached the upstream", n)
	}
	t.Run("HTTP/1.0 ignores it", func(t *testing.T) {
		c := dialRaw(t, g.http)
		statuses, bodies, _ := exchange(t, c, "POST /api/continue-10 HTTP/1.0\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
		if len(statuses) != 1 || statuses[0] != 200 {
			t.Fatalf("got %v %q", statuses, bodies)
		}
		if seen := rec.with("/api/continue-10"); len(seen) != 1 || seen[0].Body != "hi" {
			t.Fatalf("upstream saw %+v", seen)
		}
	})
}

// TestUpgradeKeepsWireGuard: an Upgrade header switches nothing off. The
// upstream does not switch protocols, so the requests that follow on the
// connection are checked like any other: a smuggling attempt behind an
// unanswered Upgrade is refused and never reaches the upstream. A real
// WebSocket upgrade (101 relayed) still becomes a tunnel.
func TestUpgradeKeepsWireGuard(t *testing.T) {
	g, rec, _ := hygieneGateway(t, "")
	for _, tc := range []struct{ name, next string }{
		{"CL and TE", "POST /api/smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"bare LF", "GET /api/smuggled HTTP/1.1\nHost: x\n\n"},
		{"obs-fold", "GET /api/smuggled HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"},
		{"HTTP/1.0 with TE", "POST /api/smuggled HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, g.http)
			up := "GET /api/first HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n"
			statuses, bodies, closed := exchange(t, c, up+tc.next)
			if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 400 || !strings.Contains(bodies[1], "malformed-request") || !closed {
				t.Fatalf("got %v %q closed=%v", statuses, bodies, closed)
			}
		})
	}
	if n := len(rec.with("/api/smuggled")); n != 0 {
		t.Errorf("%d smuggled requests reached the upstream", n)
	}
	t.Run("a good request after an unanswered Upgrade", func(t *testing.T) {
		c := dialRaw(t, g.http)
		statuses, _, _ := exchange(t, c, "GET /api/up HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\nGET /api/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if len(statuses) != 2 || statuses[0] != 200 || statuses[1] != 200 {
			t.Fatalf("got %v", statuses)
		}
	})
}

// TestClientBodyFraming: a chunked body whose framing the client broke
// is the client's fault: 400 malformed-request, the connection closed,
// and never counted against the upstream (three upstream failures would
// eject its only target here).
func TestClientBodyFraming(t *testing.T) {
	g, rec, _ := hygieneGateway(t, "")
	head := "POST /api/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct{ name, body, reason string }{
		{"not hex", "zz\r\nhi\r\n0\r\n\r\n", "invalid_chunk_size"},
		{"bare LF", "5\nhello\r\n0\r\n\r\n", "bare_lf"},
		{"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", "invalid_chunk_size"},
		{"negative", "-5\r\nhello\r\n0\r\n\r\n", "invalid_chunk_size"},
		{"no CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n", "invalid_chunk_end"},
		{"size overflow", "fffffffffffffffff\r\nhello\r\n0\r\n\r\n", "chunk_size_too_large"},
		{"folded trailer", "5\r\nhello\r\n0\r\nX-T: 1\r\n 2\r\n\r\n", "obs_fold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, g.http)
			statuses, bodies, closed := exchange(t, c, head+tc.body+"GET /api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
			if len(statuses) != 1 || statuses[0] != 400 || !closed {
				t.Fatalf("got %v %q closed=%v", statuses, bodies, closed)
			}
			var p map[string]any
			_ = json.Unmarshal([]byte(bodies[0]), &p)
			if !strings.HasSuffix(fmt.Sprint(p["type"]), "malformed-request") || p["detail"] == "" {
				t.Fatalf("problem %s", bodies[0])
			}
		})
	}
	t.Run("the upstream stays healthy", func(t *testing.T) {
		if r := get(t, g.url("/api/after")); r.status != 200 {
			t.Fatalf("after the bad bodies: %d %s", r.status, r.body)
		}
		if n := len(rec.with("/api/smuggled")); n != 0 {
			t.Errorf("%d requests after a refused body reached the upstream", n)
		}
		m := string(get(t, "http://"+g.admin+"/metrics").body)
		if strings.Contains(m, "rampart_upstream_errors_total{") {
			t.Errorf("client framing errors counted as upstream errors")
		}
		waitFor(t, 5*time.Second, "a refusal event per bad body", func() bool {
			n := 0
			for _, e := range g.events() {
				if e["stage"] == "body" && e["rule"] == "http_framing" {
					n++
				}
			}
			return n == 7
		})
	})
	t.Run("HTTP/2 DATA beyond content-length", func(t *testing.T) {
		for range 4 {
			st, reset, _ := h2Raw(t, g.http, [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/api/h2"},
				{"content-length", "2"}}, []string{"hello"})
			if st == 502 || (st != 400 && reset == 0) {
				t.Fatalf("status %d reset %v", st, reset)
			}
		}
		if r := get(t, g.url("/api/after-h2")); r.status != 200 {
			t.Fatalf("after the bad h2 bodies: %d %s", r.status, r.body)
		}
	})
	t.Run("HTTP/2 with two content-lengths", func(t *testing.T) {
		st, reset, body := h2Raw(t, g.http, [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/api/h2cl"},
			{"content-length", "2"}, {"content-length", "5"}}, []string{"hi"})
		if st != 400 && reset == 0 {
			t.Fatalf("status %d %s", st, body)
		}
		if n := len(rec.with("/api/h2cl")); n != 0 {
			t.Error("reached the upstream")
		}
	})
}

// TestHeaderHygiene: header names that fold onto the gateway's own,
// singleton headers sent twice, client-address headers from an untrusted
// client, a client's X-Request-Id, an invalid :authority.
func TestHeaderHygiene(t *testing.T) {
	g, rec, _ := hygieneGateway(t, "")
	send := func(path string, hdr map[string]string) response {
		return do(t, client, "GET", g.url(path), nil, hdr)
	}
	t.Run("names that fold onto owned headers are refused", func(t *testing.T) {
		for _, name := range []string{"X_Rampart_Consumer", "X-Rampart_Consumer", "X_Forwarded_For", "X_Real_IP", "Transfer_Encoding",
			"Content_Length", "X_Request_Id", "X_Api_Key", "CF_Connecting_IP", "Transfer--Encoding", "X-Forwarded--For"} {
			p := problemOf(t, send("/api/fold", map[string]string{name: "admin"}), 400)
			if !strings.Contains(fmt.Sprint(p["detail"]), "separators") {
				t.Errorf("%s: %v", name, p["detail"])
			}
		}
		if n := len(rec.with("/api/fold")); n != 0 {
			t.Errorf("%d reached the upstream", n)
		}
	})
	t.Run("other underscore names are dropped by default", func(t *testing.T) {
		send("/api/underscore", map[string]string{"X_Api_Version": "2", "X-Api-Version": "3"})
		got := rec.with("/api/underscore")
		if len(got) != 1 || got[0].Header.Get("X-Api-Version") != "3" || len(got[0].Header["X_api_version"]) != 0 {
			t.Fatalf("upstream got %v", got)
		}
	})
	t.Run("singleton headers sent twice", func(t *testing.T) {
		for _, name := range []string{"Authorization", "Content-Type"} {
			c := dialRaw(t, g.http)
			statuses, bodies, _ := exchange(t, c, "GET /api/dup HTTP/1.1\r\nHost: x\r\n"+name+": a\r\n"+name+": b\r\nConnection: close\r\n\r\n")
			if len(statuses) != 1 || statuses[0] != 400 || !strings.Contains(bodies[0], name) {
				t.Errorf("%s: %v %q", name, statuses, bodies)
			}
		}
		if n := len(rec.with("/api/dup")); n != 0 {
			t.Errorf("%d reached the upstream", n)
		}
	})
	t.Run("client-address headers from an untrusted client", func(t *testing.T) {
		hdr := map[string]string{"X-Request-Id": "client-chosen-id-1"}
		for _, n := range []string{"CF-Connecting-IP", "True-Client-IP", "Fastly-Client-IP", "Client-IP", "X-Envoy-External-Address",
			"X-Original-Forwarded-For", "X-Forwarded-Client-Cert"} {
			hdr[n] = "10.9.9.9"
		}
		r := send("/api/addr", hdr)
		got := rec.with("/api/addr")
		if len(got) != 1 {
			t.Fatalf("upstream got %d", len(got))
		}
		for n := range hdr {
			if n != "X-Request-Id" && got[0].Header.Get(n) != "" {
				t.Errorf("%s reached the upstream", n)
			}
		}
		if id := r.header.Get("X-Request-Id"); id == "client-chosen-id-1" || got[0].Header.Get("X-Request-Id") != id {
			t.Errorf("request id %q (upstream %q): a client's id was adopted", id, got[0].Header.Get("X-Request-Id"))
		}
		waitFor(t, 5*time.Second, "the client's id in its own log field", func() bool {
			for _, l := range g.accessLog(t) {
				if l["client_request_id"] == "client-chosen-id-1" && l["request_id"] == r.header.Get("X-Request-Id") {
					return true
				}
			}
			return false
		})
	})
	t.Run("an :authority that is no host", func(t *testing.T) {
		st, _, body := h2Raw(t, g.http, [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "localhost/admin"}, {":path", "/api/auth"}}, nil)
		if st != 400 || !strings.Contains(body, "invalid_host") && !strings.Contains(body, "host[:port]") {
			t.Errorf("status %d %s", st, body)
		}
		st, _, body = h2Raw(t, g.http, [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "a.example"}, {":path", "/api/auth"}, {"host", "b.example"}}, nil)
		if st != 400 {
			t.Errorf(":authority and Host disagree: status %d %s", st, body)
		}
		if n := len(rec.with("/api/auth")); n != 0 {
			t.Errorf("%d reached the upstream", n)
		}
	})
}

// TestClientIPHeadersFromTrustedProxy: a trusted proxy's client-address
// headers and request id are believed; underscores may be refused.
func TestClientIPHeadersFromTrustedProxy(t *testing.T) {
	g, rec, _ := hygieneGateway(t, "  trusted_proxies: [127.0.0.1/32]\n  headers: {underscores: refuse}")
	r := do(t, client, "GET", g.url("/api/trusted"), nil, map[string]string{"CF-Connecting-IP": "10.9.9.9", "X-Request-Id": "proxy-id-1"})
	got := rec.with("/api/trusted")
	if len(got) != 1 || got[0].Header.Get("Cf-Connecting-Ip") != "10.9.9.9" || r.header.Get("X-Request-Id") != "proxy-id-1" {
		t.Fatalf("upstream got %v, request id %q", got, r.header.Get("X-Request-Id"))
	}
	p := problemOf(t, do(t, client, "GET", g.url("/api/u"), nil, map[string]string{"X_Api_Version": "2"}), 400)
	if !strings.Contains(fmt.Sprint(p["detail"]), "underscores: refuse") {
		t.Errorf("detail %v", p["detail"])
	}
}

// TestPathHygiene: targets a backend would resolve differently than the
// router are refused; a route that strips ';' parameters gets the same
// path as its upstream.
func TestPathHygiene(t *testing.T) {
	g, rec, _ := hygieneGateway(t, "")
	for _, target := range []string{"/api/..;/admin/x", "/api;/admin/x", "/api/x/..;jsessionid=1/admin", "/api/%252e%252e/admin/x",
		"/api/..%252fadmin/x", "/api/%25%32e%25%32e/admin/x", "/api/%c0%ae%c0%ae/admin/x", "/admin/x#/../../api", "/api/x#frag"} {
		c := dialRaw(t, g.http)
		statuses, bodies, _ := exchange(t, c, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if len(statuses) != 1 || statuses[0] != 400 {
			t.Errorf("%s: %v %q", target, statuses, bodies)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d ambiguous paths reached the upstream: %v", n, rec.all())
	}
	if r := get(t, g.url("/legacy/a;jsessionid=1/b")); r.status != 200 {
		t.Fatalf("strip route: %d %s", r.status, r.body)
	}
	if got := rec.with("/legacy/"); len(got) != 1 || got[0].URI != "/legacy/a/b" {
		t.Errorf("strip route: upstream got %v", got)
	}
	problemOf(t, get(t, g.url("/legacy/..;/admin/x")), 400)
}

// TestBodiesOnGet: a GET or HEAD with a body is refused unless its route
// allows one.
func TestBodiesOnGet(t *testing.T) {
	g, rec, _ := hygieneGateway(t, "")
	for _, raw := range []string{
		"GET /api/get HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET /api/get HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HEAD /api/get HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
	} {
		c := dialRaw(t, g.http)
		statuses, bodies, closed := exchange(t, c, raw+"GET /api/next HTTP/1.1\r\nHost: x\r\n\r\n")
		if len(statuses) != 1 || statuses[0] != 400 || !closed || !strings.HasPrefix(raw, "HEAD") && !strings.Contains(bodies[0], "allow_get_body") {
			t.Errorf("%q: %v %q closed=%v", raw, statuses, bodies, closed)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d reached the upstream", n)
	}
	r := do(t, client, "GET", g.url("/search"), strings.NewReader(`{"q":"x"}`), nil)
	if got := rec.with("/search"); r.status != 200 || len(got) != 1 || got[0].Body != `{"q":"x"}` {
		t.Errorf("allow_get_body: %d, upstream %v", r.status, got)
	}
	if r := get(t, g.url("/api/no-body")); r.status != 200 {
		t.Errorf("a GET without a body: %d", r.status)
	}
}

// TestConnectAndHSTS: CONNECT is refused and the connection closed, so a
// request pipelined behind it is never read; HSTS only on TLS.
func TestConnectAndHSTS(t *testing.T) {
	g, rec, p := hygieneGateway(t, "")
	c := dialRaw(t, g.http)
	statuses, _, closed := exchange(t, c, "CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\nGET /api/after-connect HTTP/1.1\r\nHost: x\r\n\r\n")
	if len(statuses) != 1 || statuses[0] != 400 || !closed {
		t.Errorf("CONNECT: %v closed=%v", statuses, closed)
	}
	if n := len(rec.with("after-connect")); n != 0 {
		t.Error("the request after CONNECT reached the upstream")
	}
	if r := get(t, g.url("/api/plain")); r.header.Get("Strict-Transport-Security") != "" {
		t.Errorf("HSTS on cleartext: %q", r.header.Get("Strict-Transport-Security"))
	}
	problemOf(t, get(t, g.url("/nowhere")), 404)
	if r := get(t, g.url("/nowhere")); r.header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS on a cleartext problem")
	}
	tc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.clientTLS()}}
	if r := do(t, tc, "GET", "https://"+g.https+"/api/tls", nil, nil); !strings.HasPrefix(r.header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS on TLS: %v", r.header)
	}
}

// h2Raw sends one request as raw HTTP/2 frames on a new cleartext (prior
// knowledge) connection: the header fields in the order given, then each
// element of data as a DATA frame (the last one ends the stream). It
// returns the response status and body, or the code of the RST_STREAM or
// GOAWAY that ended the stream.
func h2Raw(t *testing.T, addr string, fields [][2]string, data []string) (status int, reset http2.ErrCode, body string) {
	t.Helper()
	c := dialRaw(t, addr)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: len(data) == 0}); err != nil {
		t.Fatal(err)
	}
	for i, d := range data {
		if err := fr.WriteData(1, i == len(data)-1, []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return status, reset, out.String()
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					fmt.Sscan(hf.Value, &status)
				}
			}
			if f.StreamEnded() {
				return status, 0, out.String()
			}
		case *http2.DataFrame:
			out.Write(f.Data())
			if f.StreamEnded() {
				return status, 0, out.String()
			}
		case *http2.RSTStreamFrame:
			return status, f.ErrCode, out.String()
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				return status, f.ErrCode, out.String()
			}
		}
	}
}
