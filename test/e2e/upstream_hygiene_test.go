package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawHTTPUpstream serves each connection with handle, called once per
// request net/http parses on it with the request's index on its
// connection; handle writes the raw answer, or returns false to close the
// connection without one.
func rawHTTPUpstream(t *testing.T, handle func(w io.Writer, r *http.Request, n int) bool) string {
	t.Helper()
	return rawUpstream(t, func(c net.Conn) { go serveRawHTTP(c, handle) })
}

// rawHTTPSUpstream is rawHTTPUpstream over TLS (HTTP/1.1 by ALPN), with a
// certificate for localhost from a CA written to dir/ca.pem.
func rawHTTPSUpstream(t *testing.T, dir string, handle func(w io.Writer, r *http.Request, n int) bool) string {
	t.Helper()
	p := newPKI(t, dir)
	crt, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{crt}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	return rawUpstream(t, func(c net.Conn) { go serveRawHTTP(tls.Server(c, cfg), handle) })
}

func serveRawHTTP(c net.Conn, handle func(w io.Writer, r *http.Request, n int) bool) {
	defer c.Close()
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if !handle(c, r, n) {
			return
		}
	}
}

// rawSchemes are the ways a raw upstream is reached: cleartext, and TLS
// (the gateway trusting dir/ca.pem).
var rawSchemes = []string{"http", "https"}

// rawHTTPUpstreamOver is rawHTTPUpstream or rawHTTPSUpstream, by scheme;
// it returns the target's URL and the upstream's TLS settings.
func rawHTTPUpstreamOver(t *testing.T, scheme, dir string, handle func(w io.Writer, r *http.Request, n int) bool) (url, tlsSettings string) {
	t.Helper()
	if scheme == "https" {
		return "https://" + rawHTTPSUpstream(t, dir, handle), "    tls: {ca_file: ca.pem, server_name: localhost}\n"
	}
	return "http://" + rawHTTPUpstream(t, handle), ""
}

func gatewayFor(t *testing.T, upstream string, extra string) *gw {
	t.Helper()
	return gatewayForURL(t, t.TempDir(), "http://"+upstream, extra)
}

// gatewayForURL runs a gateway in dir with one public route to target.
func gatewayForURL(t *testing.T, dir, target, extra string) *gw {
	t.Helper()
	return startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: 127.0.0.1:0}
events: {sinks: [{type: jsonl, path: stderr}]}
upstreams:
  app:
    targets: [{url: "%s"}]
%s
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: app, policy: public}
`, target, extra))
}

// TestUpstreamResponseDesync: an upstream that answers one request twice,
// or sends a body after a HEAD answer, never hands one client's extra
// bytes to the next client: the connection is not reused. Over
// cleartext and over TLS.
func TestUpstreamResponseDesync(t *testing.T) {
	for _, scheme := range rawSchemes {
		t.Run(scheme, func(t *testing.T) { testUpstreamResponseDesync(t, scheme) })
	}
}

func testUpstreamResponseDesync(t *testing.T, scheme string) {
	dir := t.TempDir()
	up, tlsSettings := rawHTTPUpstreamOver(t, scheme, dir, func(w io.Writer, r *http.Request, _ int) bool {
		switch r.URL.Path {
		case "/double":
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"+"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen")
		case "/late-double":
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
			time.Sleep(30 * time.Millisecond)
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen")
		case "/head":
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen")
		default:
			io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nvictim")
		}
		return true
	})
	g := gatewayForURL(t, dir, up, tlsSettings)
	for _, tc := range []struct {
		method, path string
		wait         time.Duration
	}{
		{"GET", "/double", 0},
		{"GET", "/double", 10 * time.Millisecond},
		{"GET", "/late-double", 100 * time.Millisecond},
		{"HEAD", "/head", 0},
		{"HEAD", "/head", 10 * time.Millisecond},
	} {
		for range 3 {
			do(t, client, tc.method, g.url(tc.path), nil, nil)
			time.Sleep(tc.wait)
			if r := get(t, g.url("/victim")); r.status != 200 || string(r.body) != "victim" {
				t.Fatalf("after %s %s: the next client got %d %q", tc.method, tc.path, r.status, r.body)
			}
		}
	}
}

// TestUpstreamAmbiguousResponse: a response head that two parsers could
// frame differently (the stuff of response splitting) is refused with a
// 502 problem and its connection closed, never passed on under one
// reading; the rule it broke is in the access log and an upstream.error
// event, and the next request gets a clean answer on a new connection.
// Over cleartext and over TLS.
func TestUpstreamAmbiguousResponse(t *testing.T) {
	for _, scheme := range rawSchemes {
		t.Run(scheme, func(t *testing.T) { testUpstreamAmbiguousResponse(t, scheme) })
	}
}

func testUpstreamAmbiguousResponse(t *testing.T, scheme string) {
	heads := map[string]string{
		"/two-lengths":    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		"/length-and-te":  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"/folded":         "HTTP/1.1 200 OK\r\nX-A: 1\r\n Content-Length: 99\r\nContent-Length: 2\r\n\r\nok",
		"/bare-lf":        "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"/te-on-1.0":      "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"/te-not-chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
	}
	want := map[string]string{"/two-lengths": "duplicate_content_length", "/length-and-te": "content_length_and_transfer_encoding",
		"/folded": "obs_fold", "/bare-lf": "bare_lf", "/te-on-1.0": "transfer_encoding_http10", "/te-not-chunked": "unsupported_transfer_encoding"}
	dir := t.TempDir()
	up, tlsSettings := rawHTTPUpstreamOver(t, scheme, dir, func(w io.Writer, r *http.Request, _ int) bool {
		if raw, ok := heads[r.URL.Path]; ok {
			io.WriteString(w, raw)
			return true
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean")
		return true
	})
	g := gatewayForURL(t, dir, up, tlsSettings+"    retries: {attempts: 0}")
	for path := range want {
		problemOf(t, get(t, g.url(path)), 502)
		if r := get(t, g.url("/after"+path)); r.status != 200 || string(r.body) != "clean" {
			t.Errorf("after %s: %d %q", path, r.status, r.body)
		}
	}
	named := func(entries []map[string]any, key string) bool { // every path's entry names its reason
		got := map[string]any{}
		for _, e := range entries {
			got[fmt.Sprint(e["path"])] = e[key]
		}
		for path, reason := range want {
			if got[path] != reason {
				return false
			}
		}
		return true
	}
	waitFor(t, 5*time.Second, "an upstream.error event naming each rule", func() bool {
		var events []map[string]any
		for _, e := range g.events() {
			if e["type"] == "upstream.error" {
				events = append(events, e)
			}
		}
		return named(events, "reason")
	})
	waitFor(t, 5*time.Second, "access log lines naming each rule", func() bool { return named(g.accessLog(t), "upstream_error") })
	g.metricsHave(t, fmt.Sprintf(`rampart_upstream_errors_total{kind="invalid_response",upstream="app"} %d`, len(want)))
}

// TestUpstreamLargeUploads: bodies over 64 KiB go to the upstream whole
// (the synchronous client writes them from a goroutine of its own while
// it reads the answer), one after another on a keep-alive connection;
// an upstream that answers before reading an upload gets its answer to
// the client at once, not after the upload.
func TestUpstreamLargeUploads(t *testing.T) {
	echo := startUpstream(t, "files")
	early := rawUpstream(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nsign in now\n")
			time.Sleep(3 * time.Second) // reads none of the body, keeps the connection
		}()
	})
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  limits: {max_body_bytes: 16MiB}
admin: {listen: "127.0.0.1:0"}
upstreams:
  files: {targets: [{url: %s}]}
  early: {targets: [{url: "http://%s"}], retries: {attempts: 0}}
routes:
  - {name: files, match: {paths: ["/files/**"]}, upstream: files, policy: public}
  - {name: early, match: {paths: ["/early/**"]}, upstream: early, policy: public}
`, echo.url(), early))
	for _, n := range []int{64<<10 + 1, 1 << 20, 5 << 20} {
		r := do(t, client, "POST", g.url("/files/up"), strings.NewReader(strings.Repeat("u", n)), map[string]string{"Content-Type": "application/octet-stream"})
		if e := echoOf(t, r); e.BodyBytes != int64(n) {
			t.Errorf("upload of %d bytes: the upstream got %d", n, e.BodyBytes)
		}
	}
	start := time.Now()
	r := do(t, client, "POST", g.url("/early/up"), strings.NewReader(strings.Repeat("e", 12<<20)), map[string]string{"Content-Type": "application/octet-stream"})
	if r.status != 401 || string(r.body) != "sign in now\n" || time.Since(start) > 2500*time.Millisecond {
		t.Errorf("an answer before the upload: %d %q after %v", r.status, r.body, time.Since(start))
	}
	if e := echoOf(t, get(t, g.url("/files/after"))); e.Path != "/files/after" {
		t.Errorf("after the early answer: %+v", e)
	}
}

// TestUpstreamHeaderLimit: a response head over the upstream's limit is a
// 502 problem; the limit is configurable.
func TestUpstreamHeaderLimit(t *testing.T) {
	up := rawHTTPUpstream(t, func(w io.Writer, r *http.Request, _ int) bool {
		size := 8 << 20
		if r.URL.Path == "/100k" {
			size = 100 << 10
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", size)+"\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	g := gatewayFor(t, up, "")
	problemOf(t, get(t, g.url("/8m")), 502)
	problemOf(t, get(t, g.url("/100k")), 502)
	g2 := gatewayFor(t, up, "    max_response_header_bytes: 256KiB")
	if r := get(t, g2.url("/100k")); r.status != 200 || string(r.body) != "ok" {
		t.Errorf("100 KiB head under a 256 KiB limit: %d", r.status)
	}
	problemOf(t, get(t, g2.url("/8m")), 502)
	g.metricsHave(t, `rampart_upstream_errors_total{kind="invalid_response",upstream="app"} 2`)
}

// TestUpstreamRetryRules: a request is sent twice only when nothing of it
// was written, or when it is replayable. An upstream that reads the second
// request of each connection and closes without answering gets a
// body-less POST once (502 to the client, retries.attempts 0), and a GET
// again on a fresh connection (200).
func TestUpstreamRetryRules(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	up := rawHTTPUpstream(t, func(w io.Writer, r *http.Request, n int) bool {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		if n > 0 && strings.HasPrefix(r.URL.Path, "/drop") {
			return false
		}
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return true
	})
	g := gatewayFor(t, up, "    retries: {attempts: 0}")
	count := func(k string) int {
		mu.Lock()
		defer mu.Unlock()
		return seen[k]
	}
	get(t, g.url("/warm"))
	if r := do(t, client, "POST", g.url("/drop-post"), nil, nil); r.status != 502 {
		t.Errorf("POST on a connection the upstream dropped: %d", r.status)
	}
	if n := count("POST /drop-post"); n != 1 {
		t.Errorf("the upstream got the body-less POST %d times, want once", n)
	}
	get(t, g.url("/warm"))
	if r := get(t, g.url("/drop-get")); r.status != 200 {
		t.Errorf("GET retried on a fresh connection: %d", r.status)
	}
	if n := count("GET /drop-get"); n != 2 {
		t.Errorf("the upstream got the GET %d times, want twice", n)
	}
}

// TestUpstreamIdleClose: upstreams that close idle keep-alive connections
// early (Node's keepAliveTimeout, a Go server's IdleTimeout) see every
// request after the idle time: a pooled connection the upstream closed is
// found closed before it is reused.
func TestUpstreamIdleClose(t *testing.T) {
	goUp := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{IdleTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "go %s %d", r.Method, len(b))
		})}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		return l.Addr().String()
	}
	ups := map[string]func() string{"go": goUp, "node": func() string { return nodeUpstream(t) }}
	for name, start := range ups {
		t.Run(name, func(t *testing.T) {
			g := gatewayFor(t, start(), "    retries: {attempts: 0}")
			for round := range 2 {
				for i := range 3 {
					r := do(t, client, "POST", g.url("/p"), strings.NewReader("hello"), nil)
					if r.status != 200 || !strings.HasSuffix(string(r.body), "POST 5") {
						t.Fatalf("round %d, POST %d: %d %s", round, i, r.status, r.body)
					}
				}
				time.Sleep(1500 * time.Millisecond) // past the upstream's idle timeout
			}
		})
	}
}

// nodeUpstream runs a Node.js HTTP server with a 1 s keepAliveTimeout (5 s
// is Node's default) and returns its address.
func nodeUpstream(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	script := `const http = require('http');
const s = http.createServer((req, res) => {
  let n = 0;
  req.on('data', d => { n += d.length; });
  req.on('end', () => res.end('node ' + req.method + ' ' + n));
});
s.keepAliveTimeout = 1000;
s.listen(0, '127.0.0.1', () => console.log('listening ' + s.address().port));`
	p := startBin(t, node, "-e", script)
	var port string
	waitFor(t, 20*time.Second, "node upstream", func() bool {
		if _, err := fmt.Sscanf(p.stdout.String(), "listening %s", &port); err == nil {
			port = strings.TrimSpace(port)
			return port != ""
		}
		return false
	})
	return "127.0.0.1:" + port
}

// TestUpstreamTruncatedResponse: an upstream that breaks off its body
// after the status was relayed is an upstream error in the access log,
// the metrics and the events; the client sees a cut-off response.
func TestUpstreamTruncatedResponse(t *testing.T) {
	var served atomic.Int32
	up := rawHTTPUpstream(t, func(w io.Writer, r *http.Request, _ int) bool {
		served.Add(1)
		io.WriteString(w, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("x", 500))
		return false
	})
	g := gatewayFor(t, up, "")
	// The gateway breaks the connection: the client gets an error, on
	// the response or within its body, never a complete answer.
	once := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := once.Get(g.url("/cut"))
	if err == nil {
		var b []byte
		b, err = io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil {
			t.Fatalf("the client read %d bytes without an error", len(b))
		}
	}
	waitFor(t, 5*time.Second, "the access log's upstream_error", func() bool {
		for _, l := range g.accessLog(t) {
			if l["path"] == "/cut" && l["upstream_error"] == "truncated_response" {
				return true
			}
		}
		return false
	})
	g.metricsHave(t, `rampart_upstream_errors_total{kind="truncated_response",upstream="app"} 1`)
	waitFor(t, 5*time.Second, "an upstream.error event", func() bool {
		for _, e := range g.events() {
			if e["type"] == "upstream.error" && e["reason"] == "truncated_response" {
				return true
			}
		}
		return false
	})
}

// TestUpstreamUpgrade: a WebSocket upgrade to an upstream, over cleartext
// and over TLS: the 101 passes, with the bytes the upstream sent right
// behind it; a 101 that frames a body (no 1xx response may) is a 502
// problem, its rule in the access log.
func TestUpstreamUpgrade(t *testing.T) {
	for _, scheme := range rawSchemes {
		t.Run(scheme, func(t *testing.T) {
			dir := t.TempDir()
			up, tlsSettings := rawHTTPUpstreamOver(t, scheme, dir, func(w io.Writer, r *http.Request, _ int) bool {
				framing := ""
				if r.URL.Path == "/framed" {
					framing = "Content-Length: 5\r\n"
				}
				io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+framing+"\r\nhello")
				return false // the stream ends with that
			})
			g := gatewayForURL(t, dir, up, tlsSettings)
			upgrade := func(path string) (*http.Response, string) {
				t.Helper()
				c, err := net.Dial("tcp", g.http)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path)
				br := bufio.NewReader(c)
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				var rest []byte
				if res.StatusCode == http.StatusSwitchingProtocols {
					rest, _ = io.ReadAll(br)
				} else {
					rest, _ = io.ReadAll(res.Body)
				}
				return res, string(rest)
			}
			if res, rest := upgrade("/ws"); res.StatusCode != http.StatusSwitchingProtocols || rest != "hello" {
				t.Fatalf("upgrade: %d, then %q", res.StatusCode, rest)
			}
			if res, body := upgrade("/framed"); res.StatusCode != http.StatusBadGateway || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("a 101 with Content-Length: %d %q", res.StatusCode, body)
			}
			waitFor(t, 5*time.Second, "the rule in the access log", func() bool {
				for _, e := range g.accessLog(t) {
					if e["path"] == "/framed" && e["upstream_error"] == "framed_upgrade" {
						return true
					}
				}
				return false
			})
		})
	}
}
