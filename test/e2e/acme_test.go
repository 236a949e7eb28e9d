package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pebble is Let's Encrypt's test ACME server, run on loopback.
type pebble struct {
	directory string // the ACME directory URL
	caRoot    string // the file of the root its HTTPS listener chains to
	roots     *x509.CertPool
	mgmt      string
}

// startPebble runs pebble validating http-01 on httpPort and tls-alpn-01
// on tlsPort (where the gateway listens), without its random sleeps and
// nonce rejections.
func startPebble(t *testing.T, dir string, httpPort, tlsPort int) *pebble {
	t.Helper()
	bin := toolBinary(t, "pebble", "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3")
	p := newPKI(t, dir) // pebble's own HTTPS listener's certificate
	listen, mgmt := freeLoopback(t), freeLoopback(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": p.certFile, "privateKey": p.keyFile,
		"httpPort": httpPort, "tlsPort": tlsPort, "ocspResponderURL": "", "externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(conf)
	file := filepath.Join(dir, "pebble.json")
	writeFile(t, file, string(b))
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	startBin(t, bin, "-config", file)
	pb := &pebble{directory: "https://" + listen + "/dir", caRoot: p.caFile, mgmt: mgmt}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	waitFor(t, 20*time.Second, "pebble", func() bool {
		r, err := c.Get(pb.directory)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	// the root pebble issues under, for clients of the gateway
	r, err := c.Get("https://" + mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	root, _ := io.ReadAll(r.Body)
	pb.roots = x509.NewCertPool()
	if !pb.roots.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's root: %s", root)
	}
	return pb
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

// TestACME: the gateway obtains its listener certificate from a real ACME
// server (Pebble) with each challenge type, keeps it in its store, serves
// it on the TLS listener, reports its expiry; a restart on the same store
// serves it without asking the CA again.
func TestACME(t *testing.T) {
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			dir := t.TempDir()
			plain, secure := freeLoopback(t), freeLoopback(t)
			pb := startPebble(t, dir, portOf(plain), portOf(secure))
			up := startUpstream(t, "app")
			cfg := fmt.Sprintf(`version: 1
server:
  listen: [%q]
  tls:
    listen: [%q]
    acme:
      domains: [localhost]
      email: ops@example.com
      ca: %q
      ca_root: %q
      accept_terms: true
      challenges: [%s]
admin: {listen: "127.0.0.1:0"}
events: {sinks: [{type: jsonl, path: stderr}]}
store: {driver: embedded, path: rampart.db}
upstreams:
  app: {targets: [{url: %s}]}
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: app, policy: public}
`, plain, secure, pb.directory, pb.caRoot, challenge, up.url())
			g := startGatewayIn(t, dir, cfg)
			tc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pb.roots, ServerName: "localhost"}}}
			https := "https://localhost:" + fmt.Sprint(portOf(secure)) + "/hello"
			var served *x509.Certificate
			waitFor(t, 60*time.Second, "a certificate from the CA", func() bool {
				r, err := tc.Get(https)
				if err != nil {
					return false
				}
				r.Body.Close()
				served = r.TLS.PeerCertificates[0]
				return r.StatusCode == 200
			})
			if !strings.Contains(served.Issuer.CommonName, "Pebble") || served.DNSNames[0] != "localhost" {
				t.Errorf("served %v for %v", served.Issuer, served.DNSNames)
			}
			waitFor(t, 5*time.Second, "the tls.certificate_obtained event", func() bool {
				for _, e := range g.events() {
					if e["type"] == "tls.certificate_obtained" && e["reason"] == "obtained" {
						return true
					}
				}
				return false
			})
			waitFor(t, 10*time.Second, "the expiry metric", func() bool {
				m := string(get(t, "http://"+g.admin+"/metrics").body)
				return strings.Contains(m, `rampart_tls_certificate_expiry_timestamp_seconds{name="localhost",source="acme"}`)
			})
			// the challenge path is the CA's, not a route's: anything else
			// under it is not answered by the upstream
			if r := do(t, client, "GET", "http://"+plain+"/.well-known/acme-challenge/unknown", nil, nil); r.status != 404 {
				t.Errorf("an unknown challenge token: %d %s", r.status, r.body)
			}

			// restarted on the same store: served at once, not obtained again
			g.signal(t, syscall.SIGTERM)
			g.wait(t, 20*time.Second)
			g2 := startGatewayIn(t, dir, cfg)
			waitFor(t, 20*time.Second, "the stored certificate", func() bool {
				r, err := tc.Get(https)
				if err != nil {
					return false
				}
				r.Body.Close()
				return r.StatusCode == 200 && r.TLS.PeerCertificates[0].SerialNumber.Cmp(served.SerialNumber) == 0
			})
			for _, e := range g2.events() {
				if e["type"] == "tls.certificate_obtained" {
					t.Errorf("obtained again after a restart: %v", e)
				}
			}
		})
	}
}
