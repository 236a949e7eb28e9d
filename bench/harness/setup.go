package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type env struct {
	dir                    string
	tools                  string
	procs                  []*exec.Cmd
	direct, rampart, nginx target
	// before is the -baseline build on its plain route; its name is ""
	// without one.
	before target
	// h1 is the same build with server.http1_engine: rampart, on its
	// plain route with the same logging: the gateway's own HTTP/1.1
	// server against net/http's in one run.
	h1 target
	// rampartRedis is a second Rampart whose rate limits live in Redis;
	// empty when redis-server is not installed.
	rampartRedis            string
	coraza                  string // the stock-Coraza baseline proxy, http://host:port
	sec                     *security
	postScript, closeScript string
	nginxVersion            string
	// modsec is nginx with ModSecurity 3 and the CRS (Debian's
	// libnginx-mod-http-modsecurity and modsecurity-crs), the WAF peer
	// of the threat scenarios, http://host:port; "" when not installed.
	modsec string
	// grpcDirect is the backend's gRPC listener (h2c), http://host:port.
	grpcDirect string
}

func (e *env) stop() {
	for _, p := range e.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range e.procs {
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.Process.Kill()
		}
	}
	os.RemoveAll(e.dir)
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs a process and waits until its stderr has a line with ready,
// returning that line.
func (e *env) start(ready string, name string, args ...string) (string, error) {
	return e.startCmd(ready, exec.Command(name, args...))
}

// startCmd is start for a command made by the caller (pinned, with its
// own environment).
func (e *env) startCmd(ready string, cmd *exec.Cmd) (string, error) {
	name := filepath.Base(cmd.Path)
	pr, pw, _ := os.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = nil
	if err := cmd.Start(); err != nil {
		return "", err
	}
	pw.Close()
	e.procs = append(e.procs, cmd)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	var seen []string
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return "", fmt.Errorf("%s exited:\n%s", name, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.Contains(l, ready) {
				go func() {
					for range lines {
					}
				}()
				return l, nil
			}
		case <-timeout:
			return "", fmt.Errorf("%s not ready:\n%s", name, strings.Join(seen, "\n"))
		}
	}
}

func waitPort(addr string) error {
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not listening", addr)
}

func setup(tags, baseline string) (*env, error) {
	dir, err := os.MkdirTemp("", "rampart-bench")
	if err != nil {
		return nil, err
	}
	root, _ := os.Getwd()
	e := &env{dir: dir, tools: filepath.Join(root, ".tools")}
	fail := func(err error) (*env, error) { e.stop(); return nil, err }
	if err := buildBinaries(dir, tags); err != nil {
		return fail(err)
	}
	cert, key, err := selfSigned(dir)
	if err != nil {
		return fail(err)
	}
	e.postScript = writeFile(dir, "post.lua", `wrk.method = "POST"
wrk.body = string.rep("a", 16384)
wrk.headers["Content-Type"] = "application/octet-stream"
`)
	e.closeScript = writeFile(dir, "close.lua", `wrk.headers["Connection"] = "close"
`)

	if e.sec, err = prepareSecurity(dir); err != nil {
		return fail(err)
	}
	bPlain, bTLS, bGRPC := freePort(), freePort(), freePort()
	if _, err := e.start("backend http", filepath.Join(dir, "backend"), "-listen", bPlain, "-tls", bTLS, "-cert", cert, "-key", key, "-jwks", e.sec.jwksFile, "-grpc", bGRPC); err != nil {
		return fail(err)
	}
	if err := waitPort(bTLS); err != nil {
		return fail(err)
	}
	e.direct = target{name: "direct", plain: "http://" + bPlain, tls: "https://" + bTLS}
	e.grpcDirect = "http://" + bGRPC

	if err := grpcDescriptors(dir); err != nil {
		return fail(err)
	}
	gPlain, gTLS := freePort(), freePort()
	threatPolicies, threatRoutes := threatsConfig(dir)
	threatPolicies += dataPolicies
	threatRoutes += dataRoutes + functionRoutes + grpcRoutes
	cfg := writeFile(dir, "rampart.yaml", gatewayHead("rampart", gPlain, gTLS, cert, key, dir, bPlain)+grpcUpstream(e.grpcDirect)+tlsUpstream(bTLS, cert)+fmt.Sprintf(`%s%sroutes:
%s%s%s  - {name: api, match: {paths: ["/**"]}, upstream: backend, policy: public}
`, dataTop(dir)+e.sec.config(dir, bPlain), threatPolicies, e.sec.routes(), threatRoutes, tlsUpstreamRoute))
	if err := e.sec.createKey(filepath.Join(dir, "rampart"), cfg); err != nil {
		return fail(err)
	}
	if _, err := e.start(`"msg":"ready"`, filepath.Join(dir, "rampart"), "run", "-c", cfg); err != nil {
		return fail(err)
	}
	e.rampart = target{name: "rampart", plain: "http://" + gPlain, tls: "https://" + gTLS}
	if baseline != "" {
		if err := e.startBaseline(dir, root, baseline, tags, bPlain, bTLS, cert, key); err != nil {
			return fail(err)
		}
	}
	if err := e.startEngineRampart(dir, bPlain, bTLS, cert, key); err != nil {
		return fail(err)
	}
	if err := e.startRedisRampart(dir, bPlain); err != nil {
		return fail(err)
	}
	if err := e.startCorazaProxy(bPlain); err != nil {
		return fail(err)
	}

	nPlain, nTLS := freePort(), freePort()
	for _, d := range []string{"tmp", "logs"} {
		_ = os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	nWAF := freePort()
	modsecLoad, modsecServer := modsecConfig(dir, nWAF)
	ncfg := writeFile(dir, "nginx.conf", nginxConfig(nginxSite{prefix: dir, workers: 2, backend: bPlain, backendTLS: bTLS, listen: nPlain,
		tls: fmt.Sprintf(`    listen %s ssl http2;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.2 TLSv1.3;
`, nTLS, cert, key), modules: modsecLoad, servers: modsecServer}))
	cmd := exec.Command("nginx", "-c", ncfg, "-p", dir, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("nginx: %w", err))
	}
	e.procs = append(e.procs, cmd)
	if err := waitPort(nTLS); err != nil {
		return fail(err)
	}
	e.nginx = target{name: "nginx", plain: "http://" + nPlain, tls: "https://" + nTLS}
	if modsecServer != "" {
		e.modsec = "http://" + nWAF
	}
	v, _ := runCmd("nginx", "-v")
	e.nginxVersion = strings.TrimSpace(strings.TrimPrefix(v, "nginx version: "))
	return e, nil
}

// buildBinaries builds Rampart (with tags) and the backend into dir.
func buildBinaries(dir, tags string) error {
	for _, b := range [][3]string{{"rampart", "./cmd/rampart", tags}, {"backend", "./bench/backend", ""}} {
		if out, err := runCmd("go", "build", "-tags", b[2], "-o", filepath.Join(dir, b[0]), b[1]); err != nil {
			return fmt.Errorf("build %s: %v %s", b[0], err, out)
		}
	}
	fmt.Printf("Rampart built with tags %q\n", tags)
	return nil
}

func selfSigned(dir string) (certFile, keyFile string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	certFile = writeFile(dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile = writeFile(dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})))
	return certFile, keyFile, nil
}

// gatewayHead is the start of a bench gateway's config: its listeners,
// logs named after it, and the backend upstream.
func gatewayHead(name, plain, tls, cert, key, dir, backend string) string {
	return fmt.Sprintf(`version: 1
server:
  listen: [%q]
  tls:
    listen: [%q]
    certificates: [{cert_file: %s, key_file: %s}]
  limits: {max_connections_per_ip: 4096}
admin: {listen: "127.0.0.1:0"}
access_log: {path: %s/%s-access.log}
events: {sinks: [{type: jsonl, path: %s/%s-events.jsonl}]}
upstreams:
  backend: {targets: [{url: "http://%s"}]}
`, plain, tls, cert, key, dir, name, dir, name, backend)
}

// tlsUpstream is the backend's TLS listener as an upstream, trusting the
// bench's self-signed certificate; tlsUpstreamRoute sends requests with
// X-Bench-Upstream: tls to it (the scenario "upstream over TLS").
func tlsUpstream(backendTLS, cert string) string {
	return fmt.Sprintf("  backend-tls: {targets: [{url: \"https://%s\"}], tls: {ca_file: %s}}\n", backendTLS, cert)
}

const tlsUpstreamRoute = `  - {name: api-tls, match: {paths: ["/**"], headers: {X-Bench-Upstream: tls}}, upstream: backend-tls, policy: public}
`

// startBaseline builds Rampart at the git ref baseline (from git archive,
// so the working tree is left alone) and runs it with the plain route
// and the TLS upstream's, logging as the main one does.
func (e *env) startBaseline(dir, root, baseline, tags, backend, backendTLS, cert, key string) error {
	src := filepath.Join(dir, "baseline-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if out, err := runCmd("sh", "-c", fmt.Sprintf("git -C %q archive %q | tar -x -C %q", root, baseline, src)); err != nil {
		return fmt.Errorf("baseline %s: %v %s", baseline, err, out)
	}
	bin := filepath.Join(dir, "rampart-baseline")
	build := exec.Command("go", "build", "-tags", tags, "-o", bin, "./cmd/rampart")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build baseline %s: %v %s", baseline, err, out)
	}
	plain, tls := freePort(), freePort()
	cfg := writeFile(dir, "rampart-baseline.yaml", gatewayHead("baseline", plain, tls, cert, key, dir, backend)+tlsUpstream(backendTLS, cert)+`routes:
`+tlsUpstreamRoute+`  - {name: api, match: {paths: ["/**"]}, upstream: backend, policy: public}
`)
	if _, err := e.start(`"msg":"ready"`, bin, "run", "-c", cfg); err != nil {
		return err
	}
	e.before = target{name: "before", plain: "http://" + plain, tls: "https://" + tls}
	fmt.Printf("Baseline %s built\n", baseline)
	return nil
}

// startEngineRampart runs the working tree's Rampart with its own
// HTTP/1.1 server (server.http1_engine: rampart) on the plain route and
// the TLS upstream's, logging as the main one does.
func (e *env) startEngineRampart(dir, backend, backendTLS, cert, key string) error {
	plain, tls := freePort(), freePort()
	head := strings.Replace(gatewayHead("rampart-h1", plain, tls, cert, key, dir, backend), "  limits:", "  http1_engine: rampart\n  limits:", 1)
	cfg := writeFile(dir, "rampart-h1.yaml", head+tlsUpstream(backendTLS, cert)+`routes:
`+tlsUpstreamRoute+`  - {name: api, match: {paths: ["/**"]}, upstream: backend, policy: public}
`)
	if _, err := e.start(`"msg":"ready"`, filepath.Join(dir, "rampart"), "run", "-c", cfg); err != nil {
		return err
	}
	e.h1 = target{name: "rampart-h1", plain: "http://" + plain, tls: "https://" + tls}
	return nil
}

// startRedisRampart starts redis-server and a Rampart whose state is in
// it, serving one route with a per-IP limit too high to refuse: the
// ratelimit-redis scenario. It does nothing without redis-server.
func (e *env) startRedisRampart(dir, backend string) error {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil
	}
	rPort := freePort()
	_, port, _ := net.SplitHostPort(rPort)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return err
	}
	e.procs = append(e.procs, cmd)
	if err := waitPort(rPort); err != nil {
		return err
	}
	listen := freePort()
	cfg := writeFile(dir, "rampart-redis.yaml", fmt.Sprintf(`version: 1
server: {listen: [%q], limits: {max_connections_per_ip: 4096}}
admin: {listen: "127.0.0.1:0"}
access_log: {path: %s/rampart-redis-access.log}
events: {sinks: [{type: jsonl, path: %s/rampart-redis-events.jsonl}]}
state: {driver: redis, addrs: [%q]}
upstreams:
  backend: {targets: [{url: "http://%s"}]}
policies:
  limited:
    authenticate: []
    rate_limits: [{key: ip, rate: 1000000/s, burst: 1000000, name: bench-ip}]
routes:
  - {name: limited, match: {paths: ["/rl/**"]}, upstream: backend, policy: limited, rewrite: {strip_prefix: /rl}}
`, listen, dir, dir, rPort, backend))
	if _, err := e.start(`"msg":"ready"`, filepath.Join(dir, "rampart"), "run", "-c", cfg); err != nil {
		return err
	}
	e.rampartRedis = "http://" + listen
	return nil
}
