package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwe"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestHSMKeys: the TLS listener's private key, the upstream client
// certificate's key, the identity assertion's signing key, the audit
// trail's checkpoint key and a field-encryption key live in a real
// SoftHSM2 token and never leave it (the AES key is imported, so that
// the test can open what the token sealed). A client's handshake verifies against the certificate of
// the token's key, an upstream that requires a client certificate
// accepts the token's, the assertion upstream verifies with the token's
// public key (which the gateway publishes in its JWKS), and the trail's
// checkpoints, signed by the gateway and by the CLI, verify with the
// token's trail key, and an encrypted field reaches the upstream as a
// JWE that opens with the token's AES key. With a wrong PIN the gateway refuses to start,
// naming the setting.
func TestHSMKeys(t *testing.T) {
	h := testenv.StartSoftHSM(t)
	piiKey := make([]byte, 32) // imported, so that the test can open what the token sealed
	_, _ = rand.Read(piiKey)
	h.ImportAESKey(t, "pii-2026", []byte{5}, piiKey)
	ctx, err := crypto11.Configure(&crypto11.Config{Path: h.Module, TokenLabel: h.Label, Pin: h.Pin})
	if err != nil {
		t.Fatal(err)
	}
	tlsKey, err := ctx.GenerateECDSAKeyPairWithLabel([]byte{1}, []byte("gateway-tls"), elliptic.P256())
	if err != nil {
		t.Fatal(err)
	}
	assertKey, err := ctx.GenerateECDSAKeyPairWithLabel([]byte{2}, []byte("assertion"), elliptic.P256())
	if err != nil {
		t.Fatal(err)
	}
	clientKey, err := ctx.GenerateECDSAKeyPairWithLabel([]byte{3}, []byte("upstream-client"), elliptic.P256())
	if err != nil {
		t.Fatal(err)
	}
	trailKey, err := ctx.GenerateECDSAKeyPairWithLabel([]byte{4}, []byte("trail"), elliptic.P256())
	if err != nil {
		t.Fatal(err)
	}
	assertPub := assertKey.Public().(*ecdsa.PublicKey)
	dir := t.TempDir()
	p := newPKI(t, dir)
	issue := func(pub crypto.PublicKey, cn string, usage x509.ExtKeyUsage) []byte {
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}},
			p.ca, pub, p.caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	der := issue(tlsKey.Public(), "localhost", x509.ExtKeyUsageServerAuth)
	clientDER := issue(clientKey.Public(), "rampart-in-a-token", x509.ExtKeyUsageClientAuth)
	trailDER, _ := x509.MarshalPKIXPublicKey(trailKey.Public())
	_ = ctx.Close() // the gateway logs in by itself
	writeFile(t, filepath.Join(dir, "hsm.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, filepath.Join(dir, "client.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER})))
	writeFile(t, filepath.Join(dir, "trail.pub"), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: trailDER})))
	t.Setenv("RAMPART_TEST_HSM_PIN", h.Pin)
	up := startUpstream(t, "echo")
	// an upstream that requires a client certificate of the test CA
	upCert, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{upCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	mtls := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go mtls.Serve(l)
	defer mtls.Close()
	cfg := fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: hsm.pem, key_file: "pkcs11:token=%s;object=gateway-tls;type=private"}]
admin: {listen: "127.0.0.1:0"}
pkcs11: {module: %s, pin: env:RAMPART_TEST_HSM_PIN}
identity: {signing_key: "pkcs11:token=%[1]s;object=assertion"}
trail: {token_key: "pkcs11:token=%[1]s;object=trail", checkpoint_every: 1}
keysets:
  pii: {primary: hsm-2026, keys: [{id: hsm-2026, token_key: "pkcs11:token=%[1]s;object=pii-2026"}]}
store: {driver: embedded, path: data/rampart.db, sync_interval: 200ms}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  echo: {targets: [{url: %[3]s}]}
  secure:
    targets: [{url: "https://%[4]s"}]
    tls: {ca_file: ca.pem, server_name: localhost, cert_file: client.pem, key_file: "pkcs11:token=%[1]s;object=upstream-client"}
policies:
  keyed: {authenticate: [keys], authorize: {any_authenticated: true}}
  vault: {authenticate: [keys], authorize: {any_authenticated: true}, request: {encrypt_fields: [card], keyset: pii}}
routes:
  - {name: secure, match: {paths: ["/secure"]}, upstream: secure, policy: public}
  - {name: vault, match: {paths: ["/vault/**"]}, upstream: echo, policy: vault, rewrite: {strip_prefix: /vault}}
  - {name: echo, match: {paths: ["/**"]}, upstream: echo, policy: keyed}
`, h.Label, h.Module, up.url(), l.Addr())
	if code, out, errs := (&gw{cfg: writeConfig(t, dir, cfg)}).cli("validate"); code != 0 {
		t.Fatalf("validate: %s %s", out, errs)
	}
	g := startGatewayIn(t, dir, cfg)
	code, key, errs := g.cli("keys", "create", "--consumer", "alice")
	if code != 0 {
		t.Fatal(errs)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.clientTLS()}}
	var r response
	waitFor(t, 5*time.Second, "the key", func() bool {
		r = do(t, c, "GET", "https://"+g.https+"/hello", nil, map[string]string{"X-API-Key": key})
		return r.status == 200
	})
	e := echoOf(t, r)
	if st := r.header.Get("Strict-Transport-Security"); st == "" {
		t.Error("no HSTS over TLS")
	}
	assertion := e.Headers["X-Rampart-Assertion"]
	if assertion == "" {
		t.Fatal("no assertion upstream")
	}
	if _, err := jwt.Parse([]byte(assertion), jwt.WithKey(jwa.ES256(), assertPub), jwt.WithIssuer("rampart")); err != nil {
		t.Fatalf("the assertion does not verify with the token's key: %v", err)
	}
	jwks := string(get(t, "http://"+g.admin+"/.well-known/jwks.json").body)
	pub, _ := assertPub.ECDH()
	x := base64.RawURLEncoding.EncodeToString(pub.Bytes()[1:33])
	if !strings.Contains(jwks, x) || strings.Count(jwks, `"kid"`) != 1 {
		t.Fatalf("the JWKS does not publish the token's key alone: %s", jwks)
	}

	// the upstream that requires a client certificate gets the token's
	if r := get(t, g.url("/secure")); r.status != 200 || string(r.body) != "hello rampart-in-a-token" {
		t.Fatalf("upstream mTLS with the token's key: %d %s", r.status, r.body)
	}

	// field encryption in the token: the upstream gets a JWE that opens
	// with the token's key
	r = do(t, c, "POST", "https://"+g.https+"/vault/mirror", strings.NewReader(`{"name":"Jane","card":"4111 1111 1111 1111"}`),
		map[string]string{"X-API-Key": key, "Content-Type": "application/json"})
	var seen struct{ Name, Card string }
	if err := json.Unmarshal(r.body, &seen); err != nil || seen.Name != "Jane" || !strings.HasPrefix(seen.Card, "eyJ") {
		t.Fatalf("the upstream saw: %d %s", r.status, r.body)
	}
	if pt, err := jwe.Decrypt([]byte(seen.Card), jwe.WithKey(jwa.DIRECT(), piiKey)); err != nil || string(pt) != `"4111 1111 1111 1111"` {
		t.Fatalf("the token's JWE opened with its key: %q %v", pt, err)
	}

	// the trail: checkpoints signed in the token, by the CLI (keys
	// create) and by the gateway (the admin API's revocation)
	id := strings.Split(strings.TrimSpace(key), "_")[1]
	if r := do(t, client, "POST", "http://"+g.admin+"/keys/"+id+"/revoke", nil, nil); r.status/100 != 2 {
		t.Fatalf("revoke through the admin API: %d %s", r.status, r.body)
	}
	waitFor(t, 10*time.Second, "the gateway's checkpoint", func() bool {
		_, out, _ := g.cli("trail", "verify", "--public-key", filepath.Join(dir, "trail.pub"))
		return strings.HasPrefix(out, "ok: ") && !strings.Contains(out, "not signed yet") && !strings.Contains(out, " 1 signed")
	})
	if code, out, errs := g.cli("trail", "verify"); code != 0 || !strings.Contains(out, "(key "+trailKeyID(trailDER)+")") {
		t.Fatalf("trail verify with the token's key: %d %s %s", code, out, errs)
	}

	// a wrong PIN: the gateway does not start, and says where
	bad := strings.Replace(cfg, "env:RAMPART_TEST_HSM_PIN", "env:RAMPART_TEST_HSM_BAD", 1)
	t.Setenv("RAMPART_TEST_HSM_BAD", "wrong-pin")
	dir2 := t.TempDir()
	for _, f := range []string{"hsm.pem", "client.pem", "ca.pem"} {
		writeFile(t, filepath.Join(dir2, f), readFile(t, filepath.Join(dir, f)))
	}
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, binary, "run", "-c", writeConfig(t, dir2, bad)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "identity.signing_key") || !strings.Contains(string(out), "CKR_PIN_INCORRECT") {
		t.Fatalf("run with a wrong PIN: %v\n%s", err, out)
	}
}

// trailKeyID is the trail's id of an ECDSA key: its PKIX encoding's
// SHA-256, the first 8 bytes in hex.
func trailKeyID(pkix []byte) string {
	h := sha256.Sum256(pkix)
	return hex.EncodeToString(h[:8])
}

func writeConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	path := filepath.Join(dir, "rampart.yaml")
	writeFile(t, path, yaml)
	return path
}
