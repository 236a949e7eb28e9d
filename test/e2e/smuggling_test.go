package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// smuggling is the table of request-smuggling variants, each sent as raw
// bytes, with the reason the gateway gives. Every one is followed on the
// same connection by a request the upstream must never see.
var smuggling = []struct{ name, head, reason string }{
	{"CL.TE", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "content_length_and_transfer_encoding"},
	{"TE.CL", "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", "content_length_and_transfer_encoding"},
	{"duplicate Content-Length, same value", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", "duplicate_content_length"},
	{"conflicting Content-Length", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\nab", "duplicate_content_length"},
	{"Content-Length list", "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nab", "invalid_content_length"},
	{"TE other than chunked", "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "unsupported_transfer_encoding"},
	{"TE xchunked", "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "unsupported_transfer_encoding"},
	{"TE twice", "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", "duplicate_transfer_encoding"},
	{"TE with space before colon", "POST /api/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", "invalid_header_name"},
	{"TE on HTTP/1.0", "POST /api/x HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "transfer_encoding_http10"},
	{"obs-fold", "GET /api/x HTTP/1.1\r\nHost: x\r\nX-Note: a\r\n Transfer-Encoding: chunked\r\n\r\n", "obs_fold"},
	{"bare LF", "GET /api/x HTTP/1.1\nHost: x\n\n", "bare_lf"},
	{"bare CR", "GET /api/x HTTP/1.1\r\nHost: x\r\nX-Note: a\rTransfer-Encoding: chunked\r\n\r\n", "bare_cr"},
	{"NUL in a header", "GET /api/x HTTP/1.1\r\nHost: x\r\nX-Note: a\x00b\r\n\r\n", "nul_byte"},
	{"invalid header name", "GET /api/x HTTP/1.1\r\nHost: x\r\nX[Note]: a\r\n\r\n", "invalid_header_name"},
	// net/http would answer these in plain text; they get a problem too.
	{"bad escape in the path", "GET /api/%zz HTTP/1.1\r\nHost: x\r\n\r\n", "invalid_request_target"},
	{"no Host", "GET /api/x HTTP/1.1\r\nAccept: */*\r\n\r\n", "missing_host"},
	{"two Hosts", "GET /api/x HTTP/1.1\r\nHost: x\r\nHost: evil.example\r\n\r\n", "duplicate_host"},
}

const smuggled = "GET /api/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

// TestSmuggling: each variant gets a 400 malformed-request problem on a
// connection the gateway then closes, over cleartext and TLS, after any
// good request pipelined before it; the request smuggled behind it never
// reaches the upstream; the refusal is logged and evented.
func TestSmuggling(t *testing.T) {
	var seen atomic.Int64
	var smuggledSeen atomic.Bool
	up := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/files/") {
			fmt.Fprint(w, r.RequestURI)
			return
		}
		seen.Add(1)
		if r.URL.Path == "/api/smuggled" {
			smuggledSeen.Store(true)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok")
	}))
	dir := t.TempDir()
	p := newPKI(t, dir)
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: server.pem, key_file: server.key}]
admin: {listen: 127.0.0.1:0}
upstreams:
  app: {targets: [{url: "http://%s"}]}
routes:
  - {name: api, match: {paths: ["/api/**"]}, upstream: app, policy: public}
  - {name: files, match: {paths: ["/files/**"]}, upstream: app, policy: public, allow_encoded_slashes: true}
`, up))

	dialers := map[string]func() (net.Conn, error){
		"cleartext": func() (net.Conn, error) { return net.Dial("tcp", g.http) },
		"tls": func() (net.Conn, error) {
			cfg := p.clientTLS()
			cfg.NextProtos = []string{"http/1.1"}
			return tls.Dial("tcp", g.https, cfg)
		},
	}
	for via, dial := range dialers {
		for _, tc := range smuggling {
			t.Run(via+"/"+tc.name, func(t *testing.T) {
				c, err := dial()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				good := "GET /api/first HTTP/1.1\r\nHost: x\r\n\r\n"
				if _, err := io.WriteString(c, good+tc.head+smuggled); err != nil {
					t.Fatal(err)
				}
				rd := bufio.NewReader(c)
				first, err := http.ReadResponse(rd, nil)
				if err != nil {
					t.Fatal(err)
				}
				fb, _ := io.ReadAll(first.Body)
				if first.StatusCode != 200 || string(fb) != "ok" {
					t.Fatalf("the good request before it: %d %q", first.StatusCode, fb)
				}
				res, err := http.ReadResponse(rd, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				var prob map[string]any
				_ = json.Unmarshal(b, &prob)
				if res.StatusCode != 400 || res.Header.Get("Content-Type") != "application/problem+json" ||
					prob["type"] != "tag:rampart-gw.github.io,2026:problems/malformed-request" || !res.Close {
					t.Fatalf("got %d close=%v %s", res.StatusCode, res.Close, b)
				}
				if d, _ := prob["detail"].(string); d == "" || prob["request_id"] == "" {
					t.Errorf("problem lacks detail or request id: %s", b)
				}
				// Nothing more: the connection is closed.
				if rest, _ := io.ReadAll(rd); len(rest) != 0 {
					t.Errorf("after the refusal the gateway sent %q", rest)
				}
			})
		}
	}
	if smuggledSeen.Load() {
		t.Error("a smuggled request reached the upstream")
	}
	if n := seen.Load(); n != int64(2*len(smuggling)) {
		t.Errorf("upstream saw %d requests, want only the %d good ones", n, 2*len(smuggling))
	}

	t.Run("a chunked body may look like requests", func(t *testing.T) {
		body := "POST /api/x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
		raw := fmt.Sprintf("POST /api/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body) +
			"GET /api/second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		resp := rawRequest(t, g.http, raw)
		if n := strings.Count(resp, "HTTP/1.1 200"); n != 2 {
			t.Errorf("want two 200s, got %q", tail(resp, 400))
		}
	})
	t.Run("a route may allow encoded slashes, which stay encoded", func(t *testing.T) {
		if r := get(t, g.url("/files/a%2Fb/../c%2fd")); r.status != 200 || string(r.body) != "/files/c%2Fd" {
			t.Errorf("got %d %s", r.status, r.body)
		}
		problemOf(t, get(t, g.url("/api/a%2Fb")), 400)
	})
	t.Run("headers past twice the limit: 431 problem", func(t *testing.T) {
		resp := rawRequest(t, g.http, "GET /api/x HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 70<<10)+"\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 431") || !strings.Contains(resp, "application/problem+json") {
			t.Errorf("got %q", tail(resp, 300))
		}
	})
	t.Run("access log and events name the reason", func(t *testing.T) {
		waitFor(t, 5*time.Second, "events", func() bool {
			n := 0
			for _, e := range g.events() {
				if e["reason"] == "content_length_and_transfer_encoding" {
					n++
				}
			}
			return n == 4 // CL.TE and TE.CL, cleartext and TLS
		})
		waitFor(t, 5*time.Second, "an access log line per refusal", func() bool {
			refused := 0
			for _, l := range g.accessLog(t) {
				if l["problem"] == "malformed-request" {
					refused++
				}
			}
			return refused == 2*len(smuggling)
		})
	})
	t.Run("h2 over TLS still negotiated", func(t *testing.T) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.clientTLS(), ForceAttemptHTTP2: true}}
		res, err := c.Post("https://"+g.https+"/api/x", "text/plain", bytes.NewReader([]byte("hi")))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.ProtoMajor != 2 || res.StatusCode != 200 {
			t.Errorf("%s %d", res.Proto, res.StatusCode)
		}
	})
}
