// Package e2e drives the real rampart binary from outside, as a user
// would: real upstream processes, real TLS, real HTTP/1.1 and HTTP/2
// clients, signals and file edits.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary, idpBinary, opBinary, receiverBinary, otlpBinary, grpcBinary, graphqlBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rampart-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "rampart")
	build := exec.Command("go", "build", "-race", "-o", binary, "github.com/rampart-gw/rampart/cmd/rampart")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rampart:", err)
		os.Exit(1)
	}
	for bin, pkg := range map[*string]string{&idpBinary: "idp", &opBinary: "op", &receiverBinary: "receiver", &otlpBinary: "otlpreceiver", &grpcBinary: "grpcserver", &graphqlBinary: "graphqlserver"} {
		*bin = filepath.Join(dir, pkg)
		build = exec.Command("go", "build", "-o", *bin, "../"+pkg)
		build.Stdout, build.Stderr = os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", pkg+":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a goroutine-safe buffer for a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a started process, killed by PID when the test ends.
type proc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startBin(t, binary, args...)
}

// toolBinary finds a tool `make test` installs in .tools (or one on the
// PATH); pkg is what installs it, for the message when it is missing.
func toolBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	if bin, err := exec.LookPath(name); err == nil {
		return bin
	}
	bin, _ := filepath.Abs("../../.tools/" + name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found: `make test` installs it (go install %s)", name, pkg)
	}
	return bin
}

// startBin runs bin with args, killed by PID when the test ends.
func startBin(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%v stderr:\n%s", args, tail(p.stderr.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (p *proc) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("process did not exit within %v", d)
		return -1
	}
}

// waitFor polls until cond holds.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

// upstream runs `rampart echo` as a separate process.
type upstream struct {
	*proc
	addr string
}

func startUpstream(t *testing.T, name string) *upstream {
	t.Helper()
	return startUpstreamOn(t, name, "127.0.0.1:0")
}

func startUpstreamOn(t *testing.T, name, addr string) *upstream {
	t.Helper()
	p := start(t, "echo", "-listen", addr, "-name", name)
	u := &upstream{proc: p}
	waitFor(t, 20*time.Second, "echo upstream", func() bool {
		s := p.stderr.String()
		if i := strings.Index(s, "echo listening on "); i >= 0 {
			u.addr = strings.TrimSpace(strings.SplitN(s[i+len("echo listening on "):], "\n", 2)[0])
			return true
		}
		return false
	})
	return u
}

func (u *upstream) url() string { return "http://" + u.addr }

// gw is a running gateway.
type gw struct {
	*proc
	dir   string
	cfg   string
	http  string // host:port of the first cleartext listener
	https string
	admin string
}

// startGateway writes yaml to a config file in a fresh directory and runs
// the gateway on it, waiting until it is ready.
func startGateway(t *testing.T, yaml string) *gw {
	t.Helper()
	dir := t.TempDir()
	return startGatewayIn(t, dir, yaml)
}

// engineOverride is the server.http1_engine every gateway of the run
// gets (RAMPART_E2E_HTTP1_ENGINE), so that the whole suite runs on
// either HTTP/1.1 server; "" leaves the configs as the tests wrote them.
var engineOverride = os.Getenv("RAMPART_E2E_HTTP1_ENGINE")

// withEngine sets server.http1_engine in a config when engineOverride
// asks for it, keeping the lines where they were where it can (tests
// check the positions of config errors): on the line of a flow-style
// server mapping, at the end of a block-style one (the lines after it
// move down one), or in a new server mapping at the end.
func withEngine(cfg string) string {
	if engineOverride == "" {
		return cfg
	}
	key := "http1_engine: " + engineOverride
	lines := strings.Split(cfg, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "server: {}"):
			lines[i] = "server: {" + key + "}" + l[len("server: {}"):]
			return strings.Join(lines, "\n")
		case strings.HasPrefix(l, "server: {"):
			lines[i] = "server: {" + key + ", " + l[len("server: {"):]
			return strings.Join(lines, "\n")
		case l == "server:": // at the end of the block: the lines in it stay
			end := i + 1
			for end < len(lines) && (strings.HasPrefix(lines[end], " ") || lines[end] == "") {
				end++
			}
			return strings.Join(slices.Insert(lines, end, "  "+key), "\n")
		}
	}
	return cfg + "\nserver: {" + key + "}\n"
}

func startGatewayIn(t *testing.T, dir, yaml string) *gw {
	t.Helper()
	yaml = withEngine(yaml)
	cfg := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "run", "-c", cfg)
	g := &gw{proc: p, dir: dir, cfg: cfg}
	waitFor(t, 20*time.Second, "gateway ready", func() bool {
		select {
		case <-p.done:
			t.Fatalf("gateway exited: %v\n%s", p.err, p.stderr.String())
		default:
		}
		return strings.Contains(p.stderr.String(), `"msg":"ready"`)
	})
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var l struct{ Msg, Kind, Addr string }
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "listening" {
			continue
		}
		switch l.Kind {
		case "http":
			if g.http == "" {
				g.http = l.Addr
			}
		case "https":
			g.https = l.Addr
		case "admin":
			g.admin = l.Addr
		}
	}
	return g
}

func (g *gw) url(path string) string { return "http://" + g.http + path }

// serveUpstream runs h as an upstream on a free loopback port for the
// test's life and returns its host:port: for upstreams whose behaviour a
// test shapes itself.
func serveUpstream(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// cli runs the rampart command with args and -c on this gateway's
// config, and returns its exit code, stdout (trimmed) and stderr.
func (g *gw) cli(args ...string) (int, string, string) {
	cmd := exec.Command(binary, append(args, "-c", g.cfg)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return code, strings.TrimSpace(out.String()), errb.String()
}

// rewrite replaces the config file and signals a reload.
func (g *gw) rewrite(t *testing.T, yaml string, sighup bool) {
	t.Helper()
	yaml = withEngine(yaml)
	tmp := g.cfg + ".tmp"
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, g.cfg); err != nil {
		t.Fatal(err)
	}
	if sighup {
		g.signal(t, syscall.SIGHUP)
	}
}

// accessLog returns the parsed access-log lines so far.
func (g *gw) accessLog(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(g.stdout.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// metricsHave fails the test unless the admin /metrics output holds
// every one of want, each a whole sample line's text.
func (g *gw) metricsHave(t *testing.T, want ...string) {
	t.Helper()
	m := string(get(t, "http://"+g.admin+"/metrics").body)
	for _, w := range want {
		if !strings.Contains(m, w) {
			t.Fatalf("metrics lack %s", w)
		}
	}
}

// events returns the parsed security events so far (stderr sink).
func (g *gw) events() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(g.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["type"] != nil {
			out = append(out, m)
		}
	}
	return out
}

var client = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

type response struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server asked to close the connection
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body of %s %s: %v", method, url, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b, close: res.Close}
}

// postStreamed POSTs body chunked, with no Content-Length.
func postStreamed(t *testing.T, url, body string) response {
	t.Helper()
	req, err := http.NewRequest("POST", url, io.NopCloser(strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b, close: res.Close}
}

func get(t *testing.T, url string) response { return do(t, client, "GET", url, nil, nil) }

// problemOf checks r is a problem+json of the given status and returns it.
func problemOf(t *testing.T, r response, status int) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body is not JSON: %s", r.body)
	}
	for _, k := range []string{"type", "title", "status", "detail", "request_id"} {
		if p[k] == nil || p[k] == "" {
			t.Errorf("problem lacks %s: %s", k, r.body)
		}
	}
	if p["request_id"] != r.header.Get("X-Request-Id") {
		t.Errorf("problem request_id %v != X-Request-Id %q", p["request_id"], r.header.Get("X-Request-Id"))
	}
	return p
}

// echoReply decodes an echo upstream reply.
type echoReply struct {
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	Query     string            `json:"query"`
	Headers   map[string]string `json:"headers"`
	BodyBytes int64             `json:"body_bytes"`
	Server    string            `json:"server"`
}

func echoOf(t *testing.T, r response) echoReply {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
	}
	var e echoReply
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("not an echo reply: %s", r.body)
	}
	return e
}

// pki is a test CA and a server certificate for 127.0.0.1 and localhost.
type pki struct {
	caPEM, certFile, keyFile, caFile string
	pool                             *x509.CertPool
	ca                               *x509.Certificate
	caKey                            *ecdsa.PrivateKey
}

func newPKI(t *testing.T, dir string) *pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rampart test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := &pki{ca: ca, caKey: caKey, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	p.caFile = filepath.Join(dir, "ca.pem")
	p.certFile = filepath.Join(dir, "server.pem")
	p.keyFile = filepath.Join(dir, "server.key")
	writeFile(t, p.caFile, p.caPEM)
	p.issue(t, "localhost", p.certFile, p.keyFile, x509.ExtKeyUsageServerAuth)
	return p
}

// issue writes a leaf certificate signed by the CA.
func (p *pki) issue(t *testing.T, cn, certFile, keyFile string, usage x509.ExtKeyUsage) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
}

func (p *pki) clientTLS() *tls.Config { return &tls.Config{RootCAs: p.pool, ServerName: "localhost"} }

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rawRequest writes raw bytes on a new connection and returns what comes
// back until the server closes or 3s pass.
func rawRequest(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := writeRaw(t, addr, raw)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	_, _ = io.Copy(&b, bufio.NewReader(c))
	return b.String()
}

// writeRaw writes raw on a new connection to addr, with a 3s deadline
// for all that follows; the connection is closed when the test ends.
func writeRaw(t *testing.T, addr, raw string) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, err = io.WriteString(c, raw)
	return c, err
}

// rawUpstream listens on a loopback port and hands each accepted
// connection to handle; connections handle leaves open are closed when the
// test ends. It returns host:port.
func rawUpstream(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			handle(c)
		}
	}()
	return l.Addr().String()
}
