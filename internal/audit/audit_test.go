package audit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/registry"
)

func load(t *testing.T, name string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	// The config loads certificates as the gateway would: a real pair.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "audit"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	kb, _ := x509.MarshalECPrivateKey(key)
	for _, f := range []struct {
		name string
		mode os.FileMode
		data []byte
	}{{"secret.txt", 0o644, []byte("x\n")}, {"certs/tls.pem", 0o600, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})},
		{"certs/tls.key", 0o600, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})}} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, f.name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseWith(path, data, func(string) (string, bool) { return "", false }, registry.Builtin().LoadOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestAudit(t *testing.T) {
	cfg := load(t, "weak.yaml")
	got := map[string]Finding{}
	for _, f := range Audit(cfg, registry.Builtin()) {
		got[f.ID+" "+f.Path] = f
	}
	for _, want := range []struct {
		id, path  string
		sev       Severity
		line, col int
	}{
		{"cleartext-listener", "server.listen[0]", High, 3, 12},
		{"tls12-allowed", "server.tls.min_version", Info, 5, 5},
		{"hsts-disabled", "server.tls.hsts.disabled", Medium, 7, 22},
		{"admin-without-token", "admin.listen", Medium, 8, 17},
		{"slow-revocation", "store.sync_interval", Low, 9, 65},
		{"no-hash-key", "store", Info, 9, 8},
		{"long-token-cache", "authenticators.corp.cache_ttl", Low, 11, 127},
		{"wide-clock-skew", "authenticators.corp.clock_skew", Low, 11, 143},
		{"introspection-without-audience", "authenticators.opaque", Medium, 12, 11},
		{"secret-file-readable", "authenticators.opaque.client_secret", Medium, 12, 118},
		{"api-key-in-query", "authenticators.keys.in", Medium, 13, 29},
		{"cleartext-upstream", "upstreams.orders.targets[0].url", Low, 15, 28},
		{"any-authenticated", "policies.staff.authorize.any_authenticated", Low, 17, 78},
		{"authz-fail-open", "policies.partners.authorize.external.fail_open", High, 20, 79},
		{"anonymous-route", "routes[0].policy", High, 22, 78},
		{"login-without-rate-limit", "routes[0].match.paths[0]", High, 22, 35},
		{"anonymous-route", "routes[1].policy", Medium, 23, 90},
		{"token-forwarded", "routes[2].forward_authorization", Medium, 24, 111},
		{"route-past-sunset", "routes[4].deprecation.sunset", Low, 26, 132},
		{"deprecated-without-sunset", "routes[5].deprecation", Info, 27, 106},
	} {
		f, ok := got[want.id+" "+want.path]
		if !ok {
			t.Errorf("missing %s at %s", want.id, want.path)
			continue
		}
		if f.Severity != want.sev || f.Pos.Line != want.line || f.Pos.Col != want.col {
			t.Errorf("%s %s: %s at %d:%d, want %s at %d:%d", want.id, want.path, f.Severity, f.Pos.Line, f.Pos.Col, want.sev, want.line, want.col)
		}
		delete(got, want.id+" "+want.path)
	}
	for k := range got {
		t.Errorf("unexpected finding %s", k)
	}
}

func TestExplain(t *testing.T) {
	cfg := load(t, "weak.yaml")
	var b strings.Builder
	if err := Explain(&b, cfg, registry.Builtin(), "partner"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"route partner (policy partners", "authenticate, any of: corp (jwt from https://idp.example.com for api",
		"external service https://authz.example.com/check (timeout 1s, cached 0s, fails open)", "Authorization header is removed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("explain lacks %q:\n%s", want, b.String())
		}
	}
	if err := Explain(&b, cfg, registry.Builtin(), "nope"); err == nil || !strings.Contains(err.Error(), "login, docs, orders, partner") {
		t.Fatalf("unknown route: %v", err)
	}
}

func TestLoginRouteWithIPLimit(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(`version: 1
server: {listen: ["127.0.0.1:8080"]}
admin: {disabled: true}
upstreams:
  u: {targets: [{url: "http://127.0.0.1:9001"}]}
policies:
  login: {authenticate: [], rate_limits: [{key: ip, rate: 10/m}]}
routes:
  - {name: login, match: {paths: ["/oauth/token"], methods: [POST]}, upstream: u, policy: login}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Audit(cfg, registry.Builtin()) {
		if f.ID == "login-without-rate-limit" {
			t.Fatalf("reported although the policy limits per IP: %s", f)
		}
	}
}
