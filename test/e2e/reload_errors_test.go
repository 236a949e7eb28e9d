package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/pki/pkitest"
)

// reloadErrorsConfig serves /open to anyone and /mtls to client
// certificates not in crl.pem, with an OpenAPI document, a keyset from a
// file and the embedded store at storePath.
func reloadErrorsConfig(up, storePath string) string {
	return fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: server.pem, key_file: server.key}]
    client_auth: {mode: request, ca_file: ca.pem}
admin: {listen: 127.0.0.1:0}
store: {driver: embedded, path: %q}
authenticators:
  cert: {type: mtls, crl_file: crl.pem}
keysets:
  pii: {primary: k1, keys: [{id: k1, secret: "file:k1.key"}]}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  certs: {authenticate: [cert], authorize: {any_authenticated: true}}
  spec: {validate: {openapi: orders.yaml}}
routes:
  - {name: open, match: {paths: ["/open"]}, upstream: echo, policy: public}
  - {name: mtls, match: {paths: ["/mtls"]}, upstream: echo, policy: certs}
  - {name: orders, match: {paths: ["/v1/**"]}, upstream: echo, policy: spec}
`, storePath, up)
}

// TestReloadBuildErrors drives every way a snapshot build can fail
// through the binary: each reload is refused with its reason (and its
// FILE:LINE:COL) in /config/status, the process lives on, the previous
// config keeps serving, and fixing the files reloads by itself.
func TestReloadBuildErrors(t *testing.T) {
	up := startUpstream(t, "u1")
	dir := t.TempDir()
	p := newPKI(t, dir)
	p.issue(t, "partner", filepath.Join(dir, "partner.pem"), filepath.Join(dir, "partner.key"), x509.ExtKeyUsageClientAuth)
	p.issue(t, "revoked", filepath.Join(dir, "revoked.pem"), filepath.Join(dir, "revoked.key"), x509.ExtKeyUsageClientAuth)
	revoked := loadLeaf(t, dir, "revoked")
	// A version 1 CRL, as `openssl ca -gencrl` writes by default.
	crl, err := pkitest.V1CRL(p.ca, p.caKey, revoked.Leaf.SerialNumber)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "crl.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})))
	writeFile(t, filepath.Join(dir, "orders.yaml"), ordersSpec)
	writeFile(t, filepath.Join(dir, "k1.key"), "q1Xh4cW0a9bQm0Yx8dV3kz6Nf2Lr7TsJ5uEo1Gi9HpA=\n")
	cfg := reloadErrorsConfig(up.url(), "data/rampart.db")
	g := startGatewayIn(t, dir, cfg)

	certClient := func(cert *tls.Certificate) *http.Client {
		tc := p.clientTLS()
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	}
	partner := loadLeaf(t, dir, "partner")
	serving := func(what string) {
		t.Helper()
		if r := do(t, certClient(&partner), "GET", "https://"+g.https+"/mtls", nil, nil); r.status != 200 {
			t.Fatalf("%s: a valid client certificate got %d %s", what, r.status, r.body)
		}
		if r := get(t, g.url("/open")); r.status != 200 {
			t.Fatalf("%s: /open %d", what, r.status)
		}
		select {
		case <-g.done:
			t.Fatalf("%s: the gateway exited: %v\n%s", what, g.err, g.stderr.String())
		default:
		}
	}
	serving("start")
	if r := do(t, certClient(&revoked), "GET", "https://"+g.https+"/mtls", nil, nil); r.status != 401 {
		t.Fatalf("a certificate the v1 CRL revokes: %d", r.status)
	}
	// attempts names the last load attempt (its time).
	attempts := func() any { return adminJSON(t, g, "/config/status")["time"] }
	// refused waits for a failed load attempt after n whose reason holds
	// want, and returns the status.
	refused := func(n any, want string) map[string]any {
		t.Helper()
		var st map[string]any
		waitFor(t, 10*time.Second, "reload refused with "+want, func() bool {
			st = adminJSON(t, g, "/config/status")
			return st["time"] != n && st["ok"] == false && strings.Contains(fmt.Sprint(st["message"], st["errors"]), want)
		})
		return st
	}
	recovered := func(what string) {
		t.Helper()
		waitFor(t, 10*time.Second, what+": reload after the fix", func() bool { return adminJSON(t, g, "/config/status")["ok"] == true })
		serving(what + ", fixed")
	}

	t.Run("certificate written before its key", func(t *testing.T) {
		// A renewal writes server.pem, then server.key: in between the
		// watcher sees a certificate with another certificate's key.
		n := attempts()
		next := filepath.Join(dir, "next")
		if err := os.Mkdir(next, 0o700); err != nil {
			t.Fatal(err)
		}
		p.issue(t, "localhost", filepath.Join(next, "server.pem"), filepath.Join(next, "server.key"), x509.ExtKeyUsageServerAuth)
		copyFile(t, filepath.Join(next, "server.pem"), p.certFile)
		st := refused(n, "does not belong to the certificate")
		if e := st["errors"].([]any)[0].(map[string]any); e["line"] != 6.0 || e["col"] != 32.0 || e["path"] != "server.tls.certificates[0].cert_file" {
			t.Errorf("position: %v", e)
		}
		serving("mismatched pair")
		copyFile(t, filepath.Join(next, "server.key"), p.keyFile)
		recovered("key written")
		// The new certificate is the one served now.
		res, err := certClient(&partner).Get("https://" + g.https + "/open")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := loadLeaf(t, next, "server"); !res.TLS.PeerCertificates[0].Equal(want.Leaf) {
			t.Error("the renewed certificate is not served")
		}
	})
	t.Run("unreadable key file", func(t *testing.T) {
		n := attempts()
		key, _ := os.ReadFile(p.keyFile)
		os.Remove(p.keyFile)
		if err := os.Mkdir(p.keyFile, 0o700); err != nil { // root reads any file; a directory it cannot
			t.Fatal(err)
		}
		g.signal(t, syscall.SIGHUP)
		refused(n, "is a directory")
		serving("unreadable key")
		os.Remove(p.keyFile)
		writeFile(t, p.keyFile, string(key))
		recovered("key restored")
	})
	t.Run("CRL that does not parse", func(t *testing.T) {
		n := attempts()
		writeFile(t, filepath.Join(dir, "crl.pem"), "-----BEGIN X509 CRL-----\nMIIBAA==\n-----END X509 CRL-----\n")
		refused(n, "is not a certificate revocation list")
		serving("bad CRL")
		writeFile(t, filepath.Join(dir, "crl.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl})))
		recovered("CRL restored")
	})
	t.Run("broken OpenAPI document", func(t *testing.T) {
		n := attempts()
		writeFile(t, filepath.Join(dir, "orders.yaml"), "openapi: 3.0.3\npaths: [not, a, map]\n")
		refused(n, "policies.spec.validate.openapi")
		serving("broken spec")
		writeFile(t, filepath.Join(dir, "orders.yaml"), ordersSpec)
		recovered("spec restored")
	})
	t.Run("keyset file missing", func(t *testing.T) {
		n := attempts()
		os.Rename(filepath.Join(dir, "k1.key"), filepath.Join(dir, "k1.key.bak"))
		g.signal(t, syscall.SIGHUP)
		refused(n, "cannot read secret file")
		serving("missing keyset file")
		os.Rename(filepath.Join(dir, "k1.key.bak"), filepath.Join(dir, "k1.key"))
		recovered("keyset file restored")
	})
	t.Run("store that cannot open", func(t *testing.T) {
		n := attempts()
		writeFile(t, filepath.Join(dir, "not-a-dir"), "x")
		g.rewrite(t, reloadErrorsConfig(up.url(), "not-a-dir/rampart.db"), true)
		refused(n, "cannot open the embedded store")
		serving("store")
		g.rewrite(t, cfg, true)
		recovered("store restored")
	})
	if !strings.Contains(g.stderr.String(), "config reload refused") || strings.Contains(g.stderr.String(), "panic") {
		t.Errorf("log:\n%s", g.stderr.String())
	}
	m := string(get(t, "http://"+g.admin+"/metrics").body)
	if !strings.Contains(m, `rampart_config_reloads_total{result="failure"} `) {
		t.Error("refused reloads are not counted")
	}
}

// TestStartBuildError: a config that validates but cannot be built (here,
// a certificate with another certificate's key) makes `run` print the
// reason with its position and exit 1, never panic.
func TestStartBuildError(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	p.issue(t, "other", filepath.Join(dir, "other.pem"), filepath.Join(dir, "other.key"), x509.ExtKeyUsageServerAuth)
	cfg := filepath.Join(dir, "rampart.yaml")
	writeFile(t, cfg, tlsConfig("http://127.0.0.1:1", "server.pem", "other.key", ""))
	// The pair is refused by validate too, with the same words.
	code, _, errs := (&gw{cfg: cfg}).cli("validate")
	if code != 1 || !strings.Contains(errs, cfg+":6:32: server.tls.certificates[0].cert_file: the private key in") {
		t.Fatalf("validate: exit %d\n%s", code, errs)
	}
	writeFile(t, filepath.Join(dir, "crl.pem"), "garbage")
	writeFile(t, cfg, tlsConfig("http://127.0.0.1:1", "server.pem", "server.key", "    client_auth: {mode: request, ca_file: ca.pem}")+
		"authenticators:\n  cert: {type: mtls, crl_file: crl.pem}\n")
	pr := start(t, "run", "-c", cfg)
	select {
	case <-pr.done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not exit")
	}
	out := pr.stderr.String()
	var ee *exec.ExitError
	if !errors.As(pr.err, &ee) || ee.ExitCode() != 1 || strings.Contains(out, "panic") || !strings.Contains(out, "authenticators.cert.crl_file") {
		t.Fatalf("exit %v:\n%s", pr.err, out)
	}
}

func loadLeaf(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	c.Leaf, _ = x509.ParseCertificate(c.Certificate[0])
	return c
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

// TestListenerBusy: a start whose admin address is taken names the
// setting (admin.listen) and what to do, and exits 1.
func TestListenerBusy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := filepath.Join(t.TempDir(), "rampart.yaml")
	writeFile(t, cfg, fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: %q}
upstreams:
  e: {targets: [{url: "http://127.0.0.1:1"}]}
routes:
  - {name: r, match: {paths: ["/**"]}, upstream: e, policy: public}
`, l.Addr().String()))
	pr := start(t, "run", "-c", cfg)
	select {
	case <-pr.done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not exit")
	}
	var ee *exec.ExitError
	out := pr.stderr.String()
	if !errors.As(pr.err, &ee) || ee.ExitCode() != 1 ||
		!strings.Contains(out, cfg+":3:17: admin.listen: cannot listen on "+l.Addr().String()) || !strings.Contains(out, "set admin.listen to another address") {
		t.Fatalf("exit %v:\n%s", pr.err, out)
	}
}
