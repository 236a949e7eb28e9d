package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tlsConfig(up, certFile, keyFile, extra string) string {
	return fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: %s, key_file: %s}]
%s
admin: {listen: 127.0.0.1:0}
upstreams:
  echo: {targets: [{url: %s}]}
routes:
  - name: all
    match: {paths: ["/**"]}
    upstream: echo
    policy: public
`, certFile, keyFile, extra, up)
}

func TestTLSListener(t *testing.T) {
	up := startUpstream(t, "u1")
	dir := t.TempDir()
	p := newPKI(t, dir)
	g := startGatewayIn(t, dir, tlsConfig(up.url(), "server.pem", "server.key", ""))
	url := "https://" + g.https + "/hello"

	t.Run("h2 via ALPN, HSTS, post-quantum group", func(t *testing.T) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.clientTLS(), ForceAttemptHTTP2: true}}
		res, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 {
			t.Errorf("proto = %s, want HTTP/2", res.Proto)
		}
		if h := res.Header.Get("Strict-Transport-Security"); h != "max-age=31536000" {
			t.Errorf("HSTS = %q", h)
		}
		if res.TLS.CurveID != tls.X25519MLKEM768 {
			t.Errorf("key exchange = %v, want X25519MLKEM768", res.TLS.CurveID)
		}
		waitFor(t, 5*time.Second, "access log with TLS fields", func() bool {
			for _, l := range g.accessLog(t) {
				if l["tls_version"] == "TLS 1.3" && l["tls_group"] == "X25519MLKEM768" && l["proto"] == "HTTP/2.0" {
					return true
				}
			}
			return false
		})
	})
	t.Run("HTTP/1.1 over TLS", func(t *testing.T) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.clientTLS()}}
		c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		e := echoOf(t, do(t, c, "GET", url, nil, nil))
		if e.Headers["X-Forwarded-Proto"] != "https" {
			t.Errorf("X-Forwarded-Proto = %q", e.Headers["X-Forwarded-Proto"])
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		cfg := p.clientTLS()
		cfg.MaxVersion = tls.VersionTLS11
		if c, err := tls.Dial("tcp", g.https, cfg); err == nil {
			c.Close()
			t.Error("TLS 1.1 handshake succeeded")
		}
	})
	t.Run("TLS 1.2 CBC suites refused, AEAD accepted", func(t *testing.T) {
		cfg := p.clientTLS()
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
		if c, err := tls.Dial("tcp", g.https, cfg); err == nil {
			c.Close()
			t.Error("a CBC-only TLS 1.2 client was accepted")
		}
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		c, err := tls.Dial("tcp", g.https, cfg)
		if err != nil {
			t.Fatalf("TLS 1.2 with AES-GCM refused: %v", err)
		}
		c.Close()
	})
	t.Run("certificate reloaded when the files change", func(t *testing.T) {
		p2 := newPKI(t, t.TempDir())
		p2.issue(t, "localhost", filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"), 0)
		waitFor(t, 10*time.Second, "new certificate served", func() bool {
			c, err := tls.Dial("tcp", g.https, p2.clientTLS())
			if err != nil {
				return false
			}
			c.Close()
			return true
		})
	})
	t.Run("handshake metrics", func(t *testing.T) {
		m := string(do(t, client, "GET", "http://"+g.admin+"/metrics", nil, nil).body)
		if !strings.Contains(m, `rampart_tls_handshakes_total{group="X25519MLKEM768",version="TLS 1.3"}`) {
			t.Errorf("no handshake metric in:\n%s", grep(m, "tls"))
		}
	})
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHTTPSRedirect(t *testing.T) {
	up := startUpstream(t, "u1")
	dir := t.TempDir()
	newPKI(t, dir)
	cfg := strings.Replace(tlsConfig(up.url(), "server.pem", "server.key", ""), "server:\n", "server:\n  https_redirect: true\n", 1)
	g := startGatewayIn(t, dir, cfg)
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r := do(t, noFollow, "POST", g.url("/orders/1?x=2"), strings.NewReader("body"), map[string]string{"Host": "api.example.com:8080"})
	_, port, _ := net.SplitHostPort(g.https)
	if want := "https://api.example.com:" + port + "/orders/1?x=2"; r.status != 308 || r.header.Get("Location") != want {
		t.Errorf("got %d Location %q, want 308 %q", r.status, r.header.Get("Location"), want)
	}
	if strings.Contains(string(up.stderr.String()), "POST") {
		t.Error("a cleartext request reached the upstream")
	}
}

func TestTLSMinVersion13(t *testing.T) {
	up := startUpstream(t, "u1")
	dir := t.TempDir()
	p := newPKI(t, dir)
	g := startGatewayIn(t, dir, tlsConfig(up.url(), "server.pem", "server.key", `    min_version: "1.3"`))
	cfg := p.clientTLS()
	cfg.MaxVersion = tls.VersionTLS12
	if c, err := tls.Dial("tcp", g.https, cfg); err == nil {
		c.Close()
		t.Error("TLS 1.2 accepted with min_version 1.3")
	}
}

func TestH2CAndStreaming(t *testing.T) {
	up := startUpstream(t, "u1")
	g := startGateway(t, basicConfig(up.url()))

	t.Run("h2c prior knowledge", func(t *testing.T) {
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Protocols: &protos}}
		res, err := c.Get(g.url("/v1/orders/1"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 || res.StatusCode != 200 {
			t.Errorf("got %s %d", res.Proto, res.StatusCode)
		}
	})
	t.Run("SSE flushes each event at once", func(t *testing.T) {
		res, err := client.Get(g.url("/sse"))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		rd := bufio.NewReader(res.Body)
		var times []time.Time
		for len(times) < 3 {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("after %d events: %v", len(times), err)
			}
			if strings.HasPrefix(line, "data: ") {
				times = append(times, time.Now())
			}
		}
		// The upstream sends an event every 50ms; a buffering proxy would
		// deliver them together at the end.
		if gap := times[2].Sub(times[0]); gap < 70*time.Millisecond {
			t.Errorf("events arrived %v apart: not streamed", gap)
		}
	})
	t.Run("large response streams", func(t *testing.T) {
		r := get(t, g.url("/bytes/5000000"))
		if r.status != 200 || len(r.body) != 5000000 {
			t.Errorf("got %d bytes, status %d", len(r.body), r.status)
		}
	})
	t.Run("websocket upgrade passes through", func(t *testing.T) {
		c, err := net.Dial("tcp", g.http)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		rd := bufio.NewReader(c)
		res, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 101 {
			t.Fatalf("status %d", res.StatusCode)
		}
		for _, msg := range []string{"ping-1", "ping-2"} {
			io.WriteString(c, msg)
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(rd, buf); err != nil || string(buf) != msg {
				t.Fatalf("echo %q: got %q, %v", msg, buf, err)
			}
		}
	})
}

func TestUpstreamFailures(t *testing.T) {
	up := startUpstream(t, "u1")
	// An upstream that accepts and never answers, and one that resets
	// every connection.
	hang := rawUpstream(t, func(net.Conn) {})
	reset := rawUpstream(t, func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  limits: {body_timeout: 1s}
admin: {listen: 127.0.0.1:0}
upstreams:
  echo: {targets: [{url: %s}]}
  hung:
    targets: [{url: http://%s}]
    timeouts: {response_header: 500ms}
  broken:
    targets: [{url: http://%s}]
routes:
  - {name: echo, match: {paths: ["/echo/**"]}, upstream: echo, policy: public}
  - {name: hung, match: {paths: ["/hung"]}, upstream: hung, policy: public}
  - {name: broken, match: {paths: ["/broken"]}, upstream: broken, policy: public}
`, up.url(), hang, reset))

	t.Run("hung upstream: 504 problem", func(t *testing.T) {
		start := time.Now()
		p := problemOf(t, get(t, g.url("/hung")), 504)
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
		if strings.Contains(fmt.Sprint(p), hang) {
			t.Error("problem reveals the upstream address")
		}
	})
	t.Run("resetting upstream: 502 problem without internals", func(t *testing.T) {
		r := get(t, g.url("/broken"))
		problemOf(t, r, 502)
		for _, leak := range []string{reset, "connection reset", "EOF", "dial"} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("problem leaks %q: %s", leak, r.body)
			}
		}
	})
	t.Run("slow body: 408 problem", func(t *testing.T) {
		c, err := net.Dial("tcp", g.http)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "POST /echo/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		problemOf(t, response{status: res.StatusCode, header: res.Header, body: b}, 408)
	})
}
