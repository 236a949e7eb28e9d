package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	_ "google.golang.org/genproto/googleapis/api/annotations" // google/api/annotations.proto for the example protos
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestExamplesValidate runs `rampart validate` on every file in examples/.
// TLS files the examples name are generated beside a copy.
func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	t.Setenv("RAMPART_ADMIN_TOKEN", "example-token")
	t.Setenv("RAMPART_KEY_HASH_SECRET", "example-pepper")
	t.Setenv("RAMPART_INTROSPECTION_SECRET", "example-secret")
	t.Setenv("RAMPART_REDIS_PASSWORD", "example-redis-password")
	t.Setenv("RAMPART_STORE_DSN", "postgres://rampart:example@127.0.0.1:5432/rampart")
	t.Setenv("RAMPART_CHALLENGE_SECRET", "example-challenge-secret-of-32-bytes-or-more")
	t.Setenv("PII_KEY_2026", "q1Xh4cW0a9bQm0Yx8dV3kz6Nf2Lr7TsJ5uEo1Gi9HpA=")
	t.Setenv("PII_KEY_2025", "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw=")
	t.Setenv("SPLUNK_HEC_TOKEN", "example-hec-token")
	t.Setenv("RAMPART_INTEL_FEED_TOKEN", "Bearer example-feed-token")
	t.Setenv("RAMPART_HSM_PIN", "example-pin")
	t.Setenv("RAMPART_CROWDSEC_BOUNCER_KEY", "example-bouncer-key")
	t.Setenv("RAMPART_CROWDSEC_CAPTCHA_KEY", "example-captcha-key")
	t.Setenv("RAMPART_CROWDSEC_PASSWORD", "example-machine-password")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			dir := t.TempDir()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			keys := map[string]*ecdsa.PrivateKey{} // a certificate and its key share the name's stem
			for _, m := range regexp.MustCompile(`certs/[a-z-]+\.(pem|key)`).FindAllString(string(data), -1) {
				stem := strings.TrimSuffix(strings.TrimSuffix(m, ".pem"), ".key")
				if keys[stem] == nil {
					keys[stem], _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				}
				writePEM(t, filepath.Join(dir, m), keys[stem], strings.HasSuffix(m, ".key"))
			}
			// OpenAPI documents are read from examples/specs.
			for _, m := range regexp.MustCompile(`specs/[a-z0-9-]+\.(yaml|json)`).FindAllString(string(data), -1) {
				spec, err := os.ReadFile(filepath.Join("../../examples", m))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(dir, "specs"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, m), spec, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// Threat-feed files are read from examples/feeds.
			for _, m := range regexp.MustCompile(`feeds/[a-z0-9-]+\.(txt|netset)`).FindAllString(string(data), -1) {
				feed, err := os.ReadFile(filepath.Join("../../examples", m))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(filepath.Join(dir, "feeds"), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, m), feed, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// Country databases: validate opens them as run does.
			for _, m := range regexp.MustCompile(`geo/[A-Za-z0-9-]+\.mmdb`).FindAllString(string(data), -1) {
				if err := os.MkdirAll(filepath.Join(dir, "geo"), 0o700); err != nil {
					t.Fatal(err)
				}
				// 203.0.113.0/24 in FR, written by test/ipfiltertest.
				db, err := os.ReadFile("testdata/country.mmdb")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, m), db, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// Descriptor sets are compiled from examples/protos, as
			// protoc --include_imports --descriptor_set_out writes them.
			for _, m := range regexp.MustCompile(`protos/[a-z0-9-]+\.pb`).FindAllString(string(data), -1) {
				writeDescriptorSet(t, strings.TrimSuffix(filepath.Base(m), ".pb")+".proto", filepath.Join(dir, m))
			}
			path := filepath.Join(dir, filepath.Base(f))
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCLI("validate", "-c", path)
			if code != 0 {
				t.Fatalf("validate exit %d:\n%s%s", code, out, errs)
			}
			if !strings.Contains(out, ": ok (") {
				t.Errorf("stdout = %q", out)
			}
		})
	}
}

// writeDescriptorSet compiles examples/protos/name with its imports into
// a descriptor set at path, as protoc --include_imports would. Imports
// come from examples/protos, the well-known types and google/api (the
// descriptors linked into this binary).
func writeDescriptorSet(t *testing.T, name, path string) {
	t.Helper()
	linked := protocompile.ResolverFunc(func(p string) (protocompile.SearchResult, error) {
		fd, err := protoregistry.GlobalFiles.FindFileByPath(p)
		if err != nil {
			return protocompile.SearchResult{}, err
		}
		return protocompile.SearchResult{Desc: fd}, nil
	})
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(protocompile.CompositeResolver{
		&protocompile.SourceResolver{ImportPaths: []string{"../../examples/protos"}}, linked}),
		SourceInfoMode: protocompile.SourceInfoStandard}
	files, err := c.Compile(t.Context(), name)
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(files[0])
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writePEM writes a throwaway certificate or key of k: validate loads
// them as `run` would, so a certificate and its key must match.
func writePEM(t *testing.T, path string, k *ecdsa.PrivateKey, key bool) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if key && strings.Contains(path, "trail-signing") { // the audit trail signs with Ed25519
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		b, _ := x509.MarshalPKCS8PrivateKey(ed)
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: b}
	} else if key {
		b, _ := x509.MarshalECPrivateKey(k)
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: b}
	} else {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "example"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		block = &pem.Block{Type: "CERTIFICATE", Bytes: der}
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestExamplesValidateOffline runs `rampart validate --offline` on the
// examples as a fresh clone has them: no environment variables, no
// certificates, keys or databases, which are listed as not checked.
// TestValidateFeedFile: validate reads a threat feed's file as run
// would, and points at the setting with the feed's own line.
func TestValidateFeedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.netset"), []byte("# list\n192.0.2.0/24\n192.0.2.300\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(cfg, []byte(`version: 1
threat_intel:
  feeds:
    local: {file: bad.netset, format: netset}
upstreams: {app: {targets: [{url: "http://127.0.0.1:9000"}]}}
policies: {p: {authenticate: [], threat_intel: [{feeds: [local], action: block}]}}
routes: [{name: r, match: {paths: ["/**"]}, upstream: app, policy: p}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("validate", "-c", cfg)
	if want := `r.yaml:4:19: threat_intel.feeds.local.file: line 3: "192.0.2.300" is not an address`; code != 1 || !strings.Contains(out+errs, want) {
		t.Fatalf("exit %d, want 1 with %q:\n%s%s", code, want, out, errs)
	}
}

func TestExamplesValidateOffline(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, name := range []string{"RAMPART_ADMIN_TOKEN", "RAMPART_KEY_HASH_SECRET", "RAMPART_STORE_DSN"} {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errs := runCLI("validate", "--offline", "-c", f)
			if code != 0 || !strings.Contains(out, ": ok (") {
				t.Fatalf("validate --offline exit %d:\n%s%s", code, out, errs)
			}
		})
	}
	// Offline still refuses what is wrong in the config itself, and what
	// is wrong in a file that is there.
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(filepath.Join(dir, "crl.pem"), []byte("not a crl"), 0o600)
	os.WriteFile(path, []byte("version: 1\nserver:\n  tls:\n    listen: [\"127.0.0.1:0\"]\n    certificates: [{cert_file: c.pem, key_file: k.pem}]\n"+
		"    client_auth: {mode: require, ca_file: ca.pem}\nauthenticators:\n  m: {type: mtls, crl_file: crl.pem}\nadmin: {token: env:NOPE}\n"), 0o600)
	code, out, errs := runCLI("validate", "--offline", "-c", path)
	if code != 1 || !strings.Contains(errs, path+":8:29: authenticators.m.crl_file: ") || !strings.Contains(errs, "is not a certificate revocation list") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

func TestValidateReportsPositions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("version: 1\nroutes:\n  - name: a\n    match: {paths: [\"/a\"]}\n    upstream: missing\n    policy: public\nextra: true\n"), 0o600)
	code, out, errs := runCLI("validate", "-c", path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	want := []string{
		path + `:5:15: routes[0].upstream: unknown upstream "missing"`,
		path + `:7:1: unknown key "extra"`,
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(lines), errs)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestRunRefusesInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("version: 1\nserver: {tls: {listen: [':8443'], certificates: [], min_version: '1.0'}}\n"), 0o600)
	code, _, errs := runCLI("run", "-c", path)
	if code != 1 || !strings.Contains(errs, `bad.yaml:2:66: server.tls.min_version: "1.0" is not one of 1.2, 1.3`) || !strings.Contains(errs, "refusing to start") {
		t.Errorf("exit %d:\n%s", code, errs)
	}
	code, _, errs = runCLI("run", "-c", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(errs, "cannot read config") {
		t.Errorf("missing file: exit %d: %s", code, errs)
	}
}

func TestSchemaVersionUsage(t *testing.T) {
	code, out, _ := runCLI("schema")
	var s map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &s) != nil || s["title"] != "Rampart gateway config" {
		t.Errorf("schema: exit %d, %.200s", code, out)
	}
	if code, out, _ := runCLI("version"); code != 0 || !strings.HasPrefix(out, "rampart ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errs := runCLI("bogus"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %d %q", code, errs)
	}
	if code, _, _ := runCLI(); code != 2 {
		t.Errorf("no args: exit %d", code)
	}
}

// TestDocsQuoteExamples: a YAML block in docs/ that starts with
// "# examples/NAME.yaml" must be that file, verbatim, so the docs show
// configs that the example test validates.
func TestDocsQuoteExamples(t *testing.T) {
	docs, _ := filepath.Glob("../../docs/*.md")
	quoted := map[string]bool{}
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
			m := regexp.MustCompile(`^# (examples/[a-z0-9-]+\.yaml)`).FindStringSubmatch(block[1])
			if m == nil {
				continue
			}
			want, err := os.ReadFile("../../" + m[1])
			if err != nil {
				t.Errorf("%s quotes %s, which does not exist", d, m[1])
				continue
			}
			if block[1] != string(want) {
				t.Errorf("%s quotes %s, but the file differs", filepath.Base(d), m[1])
			}
			quoted[m[1]] = true
		}
	}
	examples, _ := filepath.Glob("../../examples/*.yaml")
	for _, e := range examples {
		if name := "examples/" + filepath.Base(e); !quoted[name] {
			t.Errorf("%s is not explained in docs/", name)
		}
	}
}

func TestAuditAndExplain(t *testing.T) {
	dir := t.TempDir()
	weak := filepath.Join(dir, "weak.yaml")
	os.WriteFile(weak, []byte(`version: 1
server: {listen: ["127.0.0.1:8080"]}
admin: {disabled: true}
upstreams:
  u: {targets: [{url: "http://127.0.0.1:9001"}]}
routes:
  - {name: login, match: {paths: ["/login"], methods: [POST]}, upstream: u, policy: public}
`), 0o600)
	code, out, _ := runCLI("audit", "-c", weak)
	if code != 1 || !strings.Contains(out, weak+":7:35: high: [login-without-rate-limit]") || !strings.Contains(out, "[anonymous-route]") {
		t.Fatalf("audit of a weak config: exit %d\n%s", code, out)
	}
	// The threshold decides the exit code.
	if code, out, _ := runCLI("audit", "-c", "../../examples/access-control.yaml"); code != 0 || !strings.Contains(out, "(0 high, 1 medium") {
		t.Fatalf("audit --fail-on high of the example: exit %d\n%s", code, out)
	}
	if code, _, _ := runCLI("audit", "-c", "../../examples/access-control.yaml", "--fail-on", "medium"); code != 1 {
		t.Fatalf("audit --fail-on medium: exit %d", code)
	}
	if code, _, errs := runCLI("audit", "-c", weak, "--fail-on", "severe"); code != 2 || !strings.Contains(errs, "want info, low, medium or high") {
		t.Fatalf("bad --fail-on: exit %d %s", code, errs)
	}
	code, out, _ = runCLI("validate", "-c", "../../examples/access-control.yaml", "--explain", "orders")
	if code != 0 || !strings.Contains(out, "  10  authorize, all of: scopes orders (else 403); one of the roles orders.reader") {
		t.Fatalf("explain: exit %d\n%s", code, out)
	}
	if code, _, errs := runCLI("validate", "-c", "../../examples/access-control.yaml", "--explain", "ordres"); code != 1 || !strings.Contains(errs, "no route named") {
		t.Fatalf("explain of an unknown route: exit %d %s", code, errs)
	}
}

// TestValidateCompiles: validate refuses what only compiling finds, as
// run would: a WAF rule Coraza cannot parse, a country database that is
// not one.
func TestValidateCompiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "geo.mmdb"), []byte("not a database"), 0o600)
	path := filepath.Join(dir, "rampart.yaml")
	os.WriteFile(path, []byte(`version: 1
geoip: {database: geo.mmdb}
upstreams:
  e: {targets: [{url: "http://127.0.0.1:1"}]}
policies:
  p:
    waf:
      rules: |
        SecRule ARGS "@rx (" "id:10001,phase:2,deny"
routes:
  - {name: r, match: {paths: ["/**"]}, upstream: e, policy: p}
`), 0o600)
	for _, args := range [][]string{{"validate", "-c", path}, {"validate", "--offline", "-c", path}} {
		code, out, errs := runCLI(args...)
		if code != 1 || !strings.Contains(errs, path+":2:19: geoip.database: ") || !strings.Contains(errs, path+":8:14: policies.p.waf.rules: ") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
	}
}
