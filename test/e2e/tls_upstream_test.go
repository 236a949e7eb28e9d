package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpstreamMTLS: the gateway reaches an https upstream that requires a
// client certificate, verifying the upstream against a private CA, with
// an explicit SNI name.
func TestUpstreamMTLS(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	p.issue(t, "rampart-gateway", filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"), x509.ExtKeyUsageClientAuth)
	upCert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{upCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s over %s", r.TLS.PeerCertificates[0].Subject.CommonName, r.Proto)
	}), ReadHeaderTimeout: 5 * time.Second}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(l)
	defer srv.Close()
	cfg := func(withClientCert bool) string {
		client := ""
		if withClientCert {
			client = "      cert_file: client.pem\n      key_file: client.key\n"
		}
		return fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: 127.0.0.1:0}
upstreams:
  secure:
    targets: [{url: "https://%s"}]
    tls:
      ca_file: ca.pem
      server_name: localhost
%s
routes:
  - {name: r, match: {paths: ["/**"]}, upstream: secure, policy: public}
`, l.Addr(), client)
	}
	g := startGatewayIn(t, dir, cfg(true))
	r := get(t, g.url("/x"))
	if r.status != 200 || string(r.body) != "hello rampart-gateway over HTTP/2.0" {
		t.Errorf("got %d %q", r.status, r.body)
	}
	// Without the client certificate the upstream refuses the handshake:
	// a 502 problem that names nothing internal.
	g2 := startGatewayIn(t, dir, cfg(false))
	r = get(t, g2.url("/x"))
	problemOf(t, r, 502)
	if strings.Contains(string(r.body), "certificate") || strings.Contains(string(r.body), l.Addr().String()) {
		t.Errorf("problem leaks TLS internals: %s", r.body)
	}
}

func TestClientCertificateModes(t *testing.T) {
	up := startUpstream(t, "u1")
	dir := t.TempDir()
	p := newPKI(t, dir)
	p.issue(t, "partner-1", filepath.Join(dir, "partner.pem"), filepath.Join(dir, "partner.key"), x509.ExtKeyUsageClientAuth)
	partner, err := tls.LoadX509KeyPair(filepath.Join(dir, "partner.pem"), filepath.Join(dir, "partner.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"require", "request"} {
		t.Run(mode, func(t *testing.T) {
			g := startGatewayIn(t, dir, tlsConfig(up.url(), "server.pem", "server.key", "    client_auth: {mode: "+mode+", ca_file: ca.pem}"))
			with := p.clientTLS()
			with.Certificates = []tls.Certificate{partner}
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: with}}
			if r := do(t, c, "GET", "https://"+g.https+"/x", nil, nil); r.status != 200 {
				t.Errorf("with a valid client certificate: %d", r.status)
			}
			without := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: p.clientTLS()}}
			res, err := without.Get("https://" + g.https + "/x")
			if mode == "require" && err == nil {
				res.Body.Close()
				t.Error("require: a client without a certificate was served")
			}
			if mode == "request" {
				if err != nil {
					t.Errorf("request: a client without a certificate was refused: %v", err)
				} else {
					res.Body.Close()
				}
			}
		})
	}
}

// TestSlowloris: a client that sends headers too slowly is cut off after
// read_header_timeout.
func TestSlowloris(t *testing.T) {
	up := startUpstream(t, "u1")
	g := startGateway(t, strings.Replace(basicConfig(up.url()), "max_header_bytes: 8KiB}", "max_header_bytes: 8KiB, read_header_timeout: 500ms}", 1))
	c, err := net.Dial("tcp", g.http)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "GET /v1/orders HTTP/1.1\r\nHost: x\r\n")
	buf := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := fmt.Fprintf(c, "X-Slow: 1\r\n"); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if time.Since(start) > 4*time.Second {
			t.Fatal("connection still open after 4s of trickled headers")
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Read(buf); err != nil && !isTimeout(err) {
			break // closed by the server
		}
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("closed after %v, before the timeout", d)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestUpstreamTLSFilesRotate: an upstream's CA bundle and the gateway's
// client certificate are watched like listener certificates. When the
// upstream moves to a new CA, writing the new files is enough: the pool
// is rebuilt from their content on the reload the change triggers, with
// no config change and no signal.
func TestUpstreamTLSFilesRotate(t *testing.T) {
	dir := t.TempDir()
	p1 := newPKI(t, dir)
	p2 := newPKI(t, t.TempDir())
	p1.issue(t, "gw-2026", filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"), x509.ExtKeyUsageClientAuth)
	serverConfig := func(p *pki) *tls.Config {
		c, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Config{Certificates: []tls.Certificate{c}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool,
			MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	}
	var current atomic.Pointer[tls.Config]
	current.Store(serverConfig(p1))
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return current.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}), ReadHeaderTimeout: 5 * time.Second}
	srv.SetKeepAlivesEnabled(false) // every request a new handshake
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(l)
	defer srv.Close()
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: 127.0.0.1:0}
upstreams:
  secure:
    targets: [{url: "https://%s"}]
    tls: {ca_file: ca.pem, cert_file: client.pem, key_file: client.key, server_name: localhost}
routes:
  - {name: r, match: {paths: ["/**"]}, upstream: secure, policy: public}
`, l.Addr()))
	if r := get(t, g.url("/x")); r.status != 200 || string(r.body) != "hello gw-2026" {
		t.Fatalf("before: %d %s", r.status, r.body)
	}
	// The upstream moves to a new CA, and trusts only clients of it.
	current.Store(serverConfig(p2))
	if r := get(t, g.url("/x")); r.status != 502 {
		t.Fatalf("with the old CA bundle: %d %s", r.status, r.body)
	}
	writeFile(t, filepath.Join(dir, "ca.pem"), p2.caPEM)
	p2.issue(t, "gw-2027", filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"), x509.ExtKeyUsageClientAuth)
	waitFor(t, 10*time.Second, "the rotated files in use", func() bool {
		r := get(t, g.url("/x"))
		return r.status == 200 && string(r.body) == "hello gw-2027"
	})
	if st := adminJSON(t, g, "/config/status"); st["ok"] != true || st["source"] != "file" {
		t.Errorf("status %v", st)
	}
}
