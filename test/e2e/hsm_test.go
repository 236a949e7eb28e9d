package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
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
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestHSMKeys: the TLS listener's private key and the identity
// assertion's signing key are made in a real SoftHSM2 token and never
// leave it. A client's handshake verifies against the certificate of
// the token's key, the assertion upstream verifies with the token's
// public key, and the gateway publishes that key in its JWKS. With a
// wrong PIN the gateway refuses to start, naming the setting.
func TestHSMKeys(t *testing.T) {
	h := testenv.StartSoftHSM(t)
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
	assertPub := assertKey.Public().(*ecdsa.PublicKey)
	dir := t.TempDir()
	p := newPKI(t, dir)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}},
		p.ca, tlsKey.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	_ = ctx.Close() // the gateway logs in by itself
	writeFile(t, filepath.Join(dir, "hsm.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	t.Setenv("RAMPART_TEST_HSM_PIN", h.Pin)
	up := startUpstream(t, "echo")
	cfg := fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: hsm.pem, key_file: "pkcs11:token=%s;object=gateway-tls;type=private"}]
admin: {listen: "127.0.0.1:0"}
pkcs11: {module: %s, pin: env:RAMPART_TEST_HSM_PIN}
identity: {signing_key: "pkcs11:token=%[1]s;object=assertion"}
store: {driver: embedded, path: data/rampart.db, sync_interval: 200ms}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  echo: {targets: [{url: %[3]s}]}
policies:
  keyed: {authenticate: [keys], authorize: {any_authenticated: true}}
routes:
  - {name: echo, match: {paths: ["/**"]}, upstream: echo, policy: keyed}
`, h.Label, h.Module, up.url())
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

	// a wrong PIN: the gateway does not start, and says where
	bad := strings.Replace(cfg, "env:RAMPART_TEST_HSM_PIN", "env:RAMPART_TEST_HSM_BAD", 1)
	t.Setenv("RAMPART_TEST_HSM_BAD", "wrong-pin")
	dir2 := t.TempDir()
	writeFile(t, filepath.Join(dir2, "hsm.pem"), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, binary, "run", "-c", writeConfig(t, dir2, bad)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "identity.signing_key") || !strings.Contains(string(out), "CKR_PIN_INCORRECT") {
		t.Fatalf("run with a wrong PIN: %v\n%s", err, out)
	}
}

func writeConfig(t *testing.T, dir, yaml string) string {
	t.Helper()
	path := filepath.Join(dir, "rampart.yaml")
	writeFile(t, path, yaml)
	return path
}
