package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func noEnv(string) (string, bool) { return "", false }

// TestOptions are the options main loads with (the checks of
// gateway.Checks, the built-in authenticator types), set by
// checks_test.go, which may import the packages that own them: these
// tests validate as `rampart validate` and a reload do.
var TestOptions LoadOptions

func parseChecked(file string, data []byte, env func(string) (string, bool)) (*Config, error) {
	return ParseWith(file, data, env, TestOptions)
}

func loadChecked(path string) (*Config, error) {
	return LoadWith(path, TestOptions)
}

const minimal = `version: 1
upstreams:
  app: {targets: [{url: "http://127.0.0.1:9000"}]}
routes:
  - name: r
    match: {paths: ["/"]}
    upstream: app
    policy: public
`

func TestParseMinimalAppliesDefaults(t *testing.T) {
	cfg, err := parseChecked("min.yaml", []byte(minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Server.Listen, []string{":8080"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("listen = %v, want %v", got, want)
	}
	l := cfg.Server.Limits
	if l.MaxBodyBytes != 1<<20 || l.MaxHeaderBytes != 32<<10 || l.ReadHeaderTimeout.D() != 5*time.Second || l.MaxConnectionsPerIP != 256 {
		t.Errorf("limits defaults wrong: %+v", l)
	}
	u := cfg.Upstreams["app"]
	if u.Balancer != "round_robin" || u.Targets[0].Weight != 1 || *u.Retries.Attempts != 1 || u.Timeouts.Connect.D() != 2*time.Second {
		t.Errorf("upstream defaults wrong: %+v", u)
	}
	if cfg.Admin.Listen != "127.0.0.1:9901" {
		t.Errorf("admin listen = %q", cfg.Admin.Listen)
	}
}

// TestErrors checks each kind of error is reported at its line and
// column. Each case is minimal plus one mistake.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", minimal + "bogus: 1\n", "x.yaml:9:1: unknown key \"bogus\""},
		{"typo suggests", strings.Replace(minimal, "upstream: app", "upstrem: app", 1), `did you mean "upstream"?`},
		{"wrong type", minimal + "server: {listen: \":80\"}\n", "x.yaml:9:18: server.listen: expected a list"},
		{"bad duration", minimal + "server: {limits: {idle_timeout: 10 minutes}}\n", "x.yaml:9:33: server.limits.idle_timeout: invalid duration"},
		{"bad size", minimal + "server: {limits: {max_body_bytes: 1MB}}\n", "use binary units KiB, MiB or GiB"},
		{"unknown upstream", strings.Replace(minimal, "upstream: app", "upstream: ap", 1), "x.yaml:7:15: routes[0].upstream: unknown upstream \"ap\"; did you mean \"app\"?"},
		{"duplicate route", minimal + "  - name: r\n    match: {paths: [\"/x\"]}\n    upstream: app\n    policy: public\n", "x.yaml:9:11: routes[1].name: duplicate route name \"r\""},
		{"ambiguous routes", minimal + "  - name: s\n    match: {paths: [\"/\"]}\n    upstream: app\n    policy: public\n", "routes[1].match.paths[0]: route \"s\" matches the same requests as another route"},
		{"min_version", minimal + "server:\n  tls:\n    listen: [\":8443\"]\n    certificates: []\n    min_version: \"1.1\"\n", "x.yaml:13:18: server.tls.min_version: \"1.1\" is not one of 1.2, 1.3"},
		{"admin without token", minimal + "admin: {listen: \"0.0.0.0:9901\"}\n", "x.yaml:9:17: admin.listen: admin listener 0.0.0.0:9901 is reachable from other machines"},
		{"missing policy", strings.Replace(minimal, "    policy: public\n", "", 1), "routes[0].policy: required key \"policy\" is missing"},
		{"unknown policy", strings.Replace(minimal, "policy: public", "policy: strict", 1), "unknown policy \"strict\""},
		{"inline secret", minimal + "admin: {token: hunter2}\n", "secrets must be given as env:NAME or file:PATH, never inline"},
		{"missing env secret", minimal + "admin: {token: env:RAMPART_TEST_NOPE}\n", "environment variable RAMPART_TEST_NOPE is not set"},
		{"missing file secret", minimal + "admin: {token: file:/nonexistent/token}\n", "cannot read secret file /nonexistent/token"},
		{"bad target", strings.Replace(minimal, "http://127.0.0.1:9000", "ftp://x", 1), "must be an http:// or https:// URL"},
		{"bad pattern", strings.Replace(minimal, `paths: ["/"]`, `paths: ["/a/**/b"]`, 1), "** may only be the last segment"},
		{"bad method", strings.Replace(minimal, `match: {paths: ["/"]}`, `match: {paths: ["/"], methods: [get]}`, 1), "unknown method \"get\""},
		{"duplicate key", minimal + "version: 1\n", "duplicate key \"version\""},
		{"version", strings.Replace(minimal, "version: 1", "version: 2", 1), "unsupported version 2"},
		{"syntax", "version: 1\nroutes: [\n", "x.yaml:2:1: invalid YAML"},
		{"rewrite param", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    rewrite: {path: \"/x/{id}\"}\n", 1), "template uses {id}, but path pattern / does not capture it"},
		{"public redefined", minimal + "policies: {public: {}}\n", "\"public\" is the built-in anonymous policy"},
		{"empty file", "", "config file is empty"},
		{"redirect without TLS", minimal + "server: {https_redirect: true}\n", "https_redirect needs a TLS listener"},
		{"listener twice", minimal + "server: {listen: [\":9901\"]}\n", "x.yaml:9:19: server.listen[0]: address :9901 is also bound by admin.listen (default 127.0.0.1:9901)"},
		{"same address twice", minimal + "server: {listen: [\"127.0.0.1:80\", \"127.0.0.1:80\"]}\n", "server.listen[1]: address 127.0.0.1:80 is also bound by server.listen[0]"},
		{"acme without terms", strings.Replace(minimal, "version: 1\n", "version: 1\nserver: {listen: [\":80\"], tls: {listen: [\":443\"], acme: {domains: [api.example.com]}}}\n", 1), "set accept_terms: true"},
		{"acme and files", strings.Replace(minimal, "version: 1\n", "version: 1\nserver: {tls: {listen: [\":443\"], certificates: [{cert_file: a.pem, key_file: a.key}], acme: {domains: [a.example.com], accept_terms: true}}}\n", 1), "certificates and acme are exclusive"},
		{"acme wildcard", strings.Replace(minimal, "version: 1\n", "version: 1\nserver: {tls: {listen: [\":443\"], acme: {domains: [\"*.example.com\"], accept_terms: true}}}\n", 1), "no wildcards"},
		{"acme http-01 without cleartext", strings.Replace(minimal, "version: 1\n", "version: 1\nserver: {tls: {listen: [\":443\"], acme: {domains: [a.example.com], accept_terms: true, challenges: [http-01]}}}\n", 1), "http-01 is answered on a cleartext listener"},
		{"transform template", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    transform: {request: {headers: {set: {X-A: \"{{ consumr.id }}\"}}}}\n", 1), `"consumr.id" is not a value`},
		{"bad rewrite host", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    rewrite: {host: \"*.x.com\"}\n", 1), "must be preserve or a host name"},
		{"authenticator type", minimal + "authenticators: {idp: {type: saml}}\n", "x.yaml:9:30: authenticators.idp.type: \"saml\" is not one of api_key, jwt, mtls, oauth2_introspection, oidc"},
		{"authenticator without type", minimal + "authenticators: {idp: {issuer: x}}\n", "x.yaml:9:23: authenticators.idp.type: required key \"type\" is missing"},
		{"authenticator type twice", minimal + "authenticators: {idp: {type: mtls, type: jwt}}\n", "x.yaml:9:36: authenticators.idp.type: duplicate key \"type\""},
		{"key of another type", minimal + "authenticators: {idp: {type: oidc, issuer: \"https://i\", audiences: [a], jwks_uri: \"https://i/k\"}}\n", "x.yaml:9:73: authenticators.idp.jwks_uri: jwks_uri does not apply to type oidc, whose keys are: issuer, audiences"},
		{"key of no type", minimal + "authenticators: {idp: {type: mtls, consumer_form: subject_cn}}\n", "x.yaml:9:36: authenticators.idp: unknown key \"consumer_form\"; did you mean \"consumer_from\"?"},
		{"sink key of another type", minimal + "events: {sinks: [{type: jsonl, path: stderr, url: \"https://x\"}]}\n", "x.yaml:9:46: events.sinks[0].url: url does not apply to type jsonl, whose keys are: path, max_bytes, keep"},
		{"sink needs url", minimal + "events: {sinks: [{type: http, format: ecs}]}\n", "x.yaml:9:18: events.sinks[0].url: an http sink needs url"},
		{"sink type", minimal + "events: {sinks: [{type: kafka}]}\n", "events.sinks[0].type: \"kafka\" is not one of crowdsec, http, jsonl, syslog"},
		{"sink format", minimal + "events: {sinks: [{type: jsonl, path: stderr, format: cef}]}\n", "events.sinks[0].format: \"cef\" is not one of rampart, ecs, ocsf"},
		{"store key of another driver", minimal + "store: {driver: embedded, path: x.db, dsn: env:DSN}\n", "x.yaml:9:39: store.dsn: dsn does not apply to driver embedded, whose keys are: path"},
		{"store without driver", minimal + "store: {path: x.db}\n", "store.driver: required key \"driver\" is missing"},
		{"postgres without dsn", minimal + "store: {driver: postgres}\n", "x.yaml:9:8: store: the postgres store needs dsn"},
		{"state key of another driver", minimal + "state: {addrs: [\"127.0.0.1:6379\"]}\n", "x.yaml:9:9: state.addrs: addrs does not apply to driver memory, which has no keys of its own"},
		{"redis without addrs", minimal + "state: {driver: redis}\n", "state.addrs: state.driver redis needs addrs"},
		{"redis on_state_error", minimal + "state: {driver: redis, addrs: [\"r:6379\"], on_state_error: crash}\n", "state.on_state_error: \"crash\" is not one of local, allow, deny"},
		{"response key typo", minimal + "policies: {p: {response: {remove_feilds: [a]}}}\n", `unknown key "remove_feilds"; did you mean "remove_fields"?`},
		{"response filters nothing", minimal + "policies: {p: {response: {max_body_bytes: 1MiB}}}\n", "policies.p.response: response filters nothing: list decrypt_fields, mask or remove_fields"},
		{"decrypt without fields", minimal + "policies: {p: {response: {keyset: k}}}\n", "policies.p.response.decrypt_fields: keyset and decrypt_for go with decrypt_fields, which lists none"},
		{"bad field pattern", minimal + "policies: {p: {response: {remove_fields: [\"a..b\"]}}}\n", "policies.p.response.remove_fields[0]:"},
		{"unknown detector", minimal + "policies: {p: {response: {mask: [emial]}}}\n", "policies.p.response.mask[0]: unknown detector \"emial\""},
		{"settings enum", minimal + "authenticators: {idp: {type: mtls, consumer_from: cn}}\n", "x.yaml:9:51: authenticators.idp.consumer_from: \"cn\" is not one of subject_cn, san_uri, san_dns, fingerprint"},
		{"accept param name", strings.Replace(minimal, `match: {paths: ["/"]}`, `match: {paths: ["/"], accept_params: {Version: "2"}}`, 1), "routes[0].match.accept_params.Version: invalid media-type parameter name \"Version\""},
		{"accept param q", strings.Replace(minimal, `match: {paths: ["/"]}`, `match: {paths: ["/"], accept_params: {q: "1"}}`, 1), "q is the quality weight"},
		{"accept param value", strings.Replace(minimal, `match: {paths: ["/"]}`, `match: {paths: ["/"], accept_params: {version: "2 beta"}}`, 1), "routes[0].match.accept_params.version: parameter value \"2 beta\" must be a token"},
		{"cache key header", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    cache: {key_headers: [\"bad header\"]}\n", 1), "routes[0].cache.key_headers[0]: invalid header name \"bad header\""},
		{"cache without GET", strings.Replace(minimal, `match: {paths: ["/"]}`, `match: {paths: ["/"], methods: [POST]}`, 1) + "    cache: {}\n", "the cache keeps GET responses, and route r takes no GET"},
		{"deprecation without since", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    deprecation: {sunset: 2027-01-01}\n", 1), "routes[0].deprecation.since: required key \"since\" is missing"},
		{"deprecation bad time", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    deprecation: {since: June 1st}\n", 1), "x.yaml:9:26: routes[0].deprecation.since: invalid time \"June 1st\": use a date such as 2026-06-01"},
		{"sunset before since", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    deprecation: {since: 2026-06-01, sunset: 2026-01-01}\n", 1), "x.yaml:9:46: routes[0].deprecation.sunset: sunset (2026-01-01T00:00:00Z) must come after since (2026-06-01T00:00:00Z)"},
		{"deprecation link http", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    deprecation: {since: 2026-06-01, link: \"http://docs.example/v2\"}\n", 1), "routes[0].deprecation.link: link must be an https URL"},
		{"deprecation link header injection", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    deprecation: {since: 2026-06-01, link: \"https://docs.example/v2>; rel=x\"}\n", 1), "routes[0].deprecation.link: link must be an https URL"},
		{"successor relative", strings.Replace(minimal, "    policy: public\n", "    policy: public\n    deprecation: {since: 2026-06-01, successor: v2/orders}\n", 1), "routes[0].deprecation.successor: successor must be an https URL (http for localhost) or a path starting with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseChecked("x.yaml", []byte(tt.yaml), noEnv)
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("errors:\n%v\nwant one containing %q", err, tt.want)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cr3t-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "ADMIN_TOKEN" {
			return "s3cr3t-from-env", true
		}
		return "", false
	}
	for _, ref := range []string{"env:ADMIN_TOKEN", "file:token"} {
		yaml := minimal + "admin: {listen: \"0.0.0.0:9901\", token: " + ref + "}\n"
		cfg, err := parseChecked(filepath.Join(dir, "rampart.yaml"), []byte(yaml), env)
		if err != nil {
			t.Fatal(err)
		}
		if v := cfg.Admin.Token.Value(); !strings.HasPrefix(v, "s3cr3t-from-") {
			t.Errorf("%s resolved to %q", ref, v)
		}
		b, _ := json.Marshal(cfg)
		if strings.Contains(string(b), "s3cr3t") {
			t.Errorf("config JSON leaks the secret: %s", b)
		}
		if !strings.Contains(string(b), ref) {
			t.Errorf("config JSON should show the reference %s", ref)
		}
	}
	// An invalid config that holds a secret reference never prints a value.
	_, err := parseChecked("x.yaml", []byte(minimal+"admin: {token: env:ADMIN_TOKEN}\nbogus: 1\n"), env)
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("error leaks or is missing: %v", err)
	}
}

// TestValidateGolden pins the exact output of a config with many errors,
// the text users see from `rampart validate`.
func TestValidateGolden(t *testing.T) {
	_, err := loadChecked("testdata/invalid.yaml")
	if err == nil {
		t.Fatal("testdata/invalid.yaml should be invalid")
	}
	got := err.Error() + "\n"
	golden := "testdata/invalid.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("validate output changed (run go test -update to accept):\n--- got\n%s--- want\n%s", got, want)
	}
}

func TestSchemaIsValidJSON(t *testing.T) {
	b, err := Schema(TestOptions)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	props := s["properties"].(map[string]any)
	for _, k := range []string{"version", "server", "admin", "upstreams", "routes", "policies"} {
		if props[k] == nil {
			t.Errorf("schema lacks %s", k)
		}
	}
	if s["additionalProperties"] != false {
		t.Error("schema must reject unknown keys")
	}
	auth := props["authenticators"].(map[string]any)["additionalProperties"].(map[string]any)
	one, _ := auth["oneOf"].([]any)
	if len(one) != len(TestOptions.Authenticators) {
		t.Fatalf("an authenticator is one of %d schemas, want one per type (%d)", len(one), len(TestOptions.Authenticators))
	}
	for _, o := range one {
		props := o.(map[string]any)["properties"].(map[string]any)
		if props["type"].(map[string]any)["const"] == "jwt" && props["jwks_uri"] == nil {
			t.Error("the jwt schema lacks jwks_uri")
		}
	}
}

// TestDefaultSink: a config naming no sink gets one jsonl sink on
// stderr, decoded as if the file said so.
func TestDefaultSink(t *testing.T) {
	cfg, err := parseChecked("x.yaml", []byte(minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg.Events.Sinks)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `[{"keep":5,"path":"stderr","type":"jsonl"}]` {
		t.Errorf("default sinks = %s", b)
	}
}

// TestDefaultState: a config without state counts in memory; one with
// redis gets its defaults.
func TestDefaultState(t *testing.T) {
	for _, tt := range []struct{ extra, want string }{
		{"", `{"driver":"memory"}`},
		{"state: {}\n", `{"driver":"memory"}`},
		{"state: {driver: redis, addrs: [\"127.0.0.1:6379\"]}\n", `{"addrs":["127.0.0.1:6379"],"driver":"redis","on_state_error":"local","timeout":"100ms"}`},
	} {
		cfg, err := parseChecked("x.yaml", []byte(minimal+tt.extra), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(cfg.State); string(b) != tt.want {
			t.Errorf("%q: state = %s, want %s", tt.extra, b, tt.want)
		}
	}
}

// TestResponseTransforms: a response section's keys go to the
// transforms that own them, and its JSON has them as the file does.
func TestResponseTransforms(t *testing.T) {
	cfg, err := parseChecked("x.yaml", []byte(minimal+"policies: {p: {response: {remove_fields: [a.b], mask: [email], on_oversize: pass}}}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Policies["p"].Response
	if got := slices.Sorted(maps.Keys(r.Transforms)); !slices.Equal(got, []string{"mask", "remove_fields"}) {
		t.Errorf("transforms = %v", got)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"mask":["email"],"on_oversize":"pass","remove_fields":["a.b"]}` {
		t.Errorf("response JSON = %s", b)
	}
}

// TestAuthenticatorJSON: an authenticator's JSON has its type beside its
// settings' keys, as the file does.
func TestAuthenticatorJSON(t *testing.T) {
	cfg, err := parseChecked("x.yaml", []byte(minimal+"authenticators: {idp: {type: jwt, issuer: \"https://i\", jwks_uri: \"https://i/k\", audiences: [a]}}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(cfg.Authenticators["idp"])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != "jwt" || m["jwks_uri"] != "https://i/k" || m["issuer"] != "https://i" || m["clock_skew"] != "30s" {
		t.Errorf("authenticator JSON = %s", b)
	}
}

func TestSizes(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		ok   bool
	}{
		{"512", 512, true}, {"32KiB", 32 << 10, true}, {"1MiB", 1 << 20, true}, {"2 GiB", 2 << 30, true},
		{"1MB", 0, false}, {"-1", 0, false}, {"x", 0, false}, {"99999999999GiB", 0, false},
	}
	for _, tt := range tests {
		var z Size
		err := z.decodeScalar(tt.in)
		if (err == nil) != tt.ok || (tt.ok && z != tt.want) {
			t.Errorf("Size(%q) = %d, %v; want %d ok=%v", tt.in, z, err, tt.want, tt.ok)
		}
	}
}

// FuzzParse: any input yields a config or positioned errors, never a
// panic, and every error position lies inside the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("version: 1\nroutes: [{name: a, match: {paths: ['/{x}']}, upstream: u, policy: public}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("version: 1\nserver: {limits: {max_body_bytes: 1KiB}}\n"))
	if b, err := os.ReadFile("testdata/invalid.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := parseChecked("fuzz.yaml", data, noEnv)
		if err == nil {
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %T is not a non-empty Errors", err)
		}
		// YAML breaks lines at \n, \r\n and a lone \r.
		lines := strings.Count(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") + strings.Count(strings.ReplaceAll(string(data), "\r\n", ""), "\r") + 2
		for _, e := range errs {
			if e.Pos.Line < 1 || e.Pos.Line > lines || e.Pos.Col < 1 {
				t.Fatalf("position %v outside the input (%d lines)", e.Pos, lines)
			}
		}
	})
}

func TestCheckConsumer(t *testing.T) {
	cfg, err := parseChecked("c.yaml", []byte("version: 1\nroles:\n  reader: {allow: [{paths: [\"/**\"]}]}\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id     string
		roles  []string
		scopes []string
		attrs  map[string]string
		err    string
	}{
		{"acme", []string{"reader"}, []string{"orders:read"}, map[string]string{"account": "acme"}, ""},
		{"bad id", nil, nil, nil, "consumer id"},
		{"acme", []string{"raeder"}, nil, nil, `did you mean "reader"`},
		{"acme", nil, []string{"a b"}, nil, "one non-empty word"},
		{"acme", nil, nil, map[string]string{"x": "line\nbreak"}, "one line"},
		{"acme", nil, nil, map[string]string{"": "v"}, "names are 1-64"},
	} {
		err := cfg.CheckConsumer(tc.id, tc.roles, tc.scopes, tc.attrs)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s %v %v %v: %v, want %q", tc.id, tc.roles, tc.scopes, tc.attrs, err, tc.err)
		}
	}
}

// FuzzRateLimit: any rate and key text is either refused with a
// positioned error or yields a limit whose interval is positive.
func FuzzRateLimit(f *testing.F) {
	for _, s := range [][2]string{{"100/s", "consumer"}, {"1/d", "ip+route"}, {"1000000000/s", "header:X-Tenant"},
		{"0/s", "claim:sub"}, {"5/x", "consumer+consumer"}, {"-1/m", "header:"}, {"9999999999/s", "claim:a b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, rate, key string) {
		doc := fmt.Sprintf("version: 1\nauthenticators:\n  idp: {type: jwt, issuer: \"https://i\", jwks_uri: \"https://i/k\", audiences: [a]}\n"+
			"upstreams:\n  u: {targets: [{url: \"http://127.0.0.1:1\"}]}\npolicies:\n  p:\n    authenticate: [idp]\n    authorize: {any_authenticated: true}\n"+
			"    rate_limits: [{key: %q, rate: %q}]\nroutes:\n  - {name: r, match: {paths: [\"/\"]}, upstream: u, policy: p}\n", key, rate)
		cfg, err := parseChecked("fuzz.yaml", []byte(doc), noEnv)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T is not a non-empty Errors", err)
			}
			return
		}
		rl := cfg.Policies["p"].RateLimits[0]
		if rl.Rate.Interval() <= 0 || rl.Burst < 1 {
			t.Fatalf("accepted rate %q key %q with interval %v burst %d", rate, key, rl.Rate.Interval(), rl.Burst)
		}
	})
}

// TestTrafficErrors: each traffic section's mistakes are reported at the
// offending key with what to write instead.
func TestPortalErrors(t *testing.T) {
	under := strings.Replace(minimal, `paths: ["/"]`, `paths: ["/portal/x"]`, 1)
	tests := []struct {
		name, yaml, want string
	}{
		{"path not plain", minimal + "portal: {path: /Portal/}\n", `x.yaml:9:16: portal.path: portal path "/Portal/" must be plain lower-case segments`},
		{"route under the portal", under + "portal: {}\n", `x.yaml:6:21: routes[0].match.paths[0]: route "r" is served under the portal's path /portal`},
		{"route under a custom path", strings.Replace(minimal, `paths: ["/"]`, `paths: ["/dev"]`, 1) + "portal: {path: /dev}\n", `routes[0].match.paths[0]: route "r" is served under the portal's path /dev`},
		{"unknown policy", minimal + "portal: {policy: selfservice}\n", `portal.policy: unknown policy "selfservice"`},
		{"policy without authentication", minimal + "policies: {open: {authenticate: []}}\nportal: {policy: open}\n", `policy "open" authenticates no one`},
		{"listener clash", minimal + "server: {listen: [\"127.0.0.1:8080\"]}\nportal: {listen: \"127.0.0.1:8080\"}\n", "portal.listen: address 127.0.0.1:8080 is also bound by server.listen[0]"},
		{"bad listener", minimal + "portal: {listen: \"nowhere\"}\n", "portal.listen"},
		{"relative problem type base", minimal + "problems: {type_base: docs/problems/}\n", "problems.type_base: \"docs/problems/\" must be an absolute URI"},
		{"problem type base with a query", minimal + "problems: {type_base: \"https://d.example/p?x=\"}\n", "must not hold a query or fragment"},
		{"network-path problem type base", minimal + "problems: {type_base: //evil.example/p/}\n", "network-path reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseChecked("x.yaml", []byte(tt.yaml), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("errors:\n%v\nwant one containing %q", err, tt.want)
			}
		})
	}
	// The defaults: /portal and a title; the route at /portalx is not under it.
	cfg, err := parseChecked("x.yaml", []byte(strings.Replace(minimal, `paths: ["/"]`, `paths: ["/portalx"]`, 1)+"portal: {}\n"), noEnv)
	if err != nil || cfg.Portal.Path != "/portal" || cfg.Portal.Title != "API portal" {
		t.Fatalf("%v %+v", err, cfg)
	}
	// Problem types: the portal's pages by default, type_base first.
	if b := cfg.ProblemTypeBase(); b != "/portal/problems/" {
		t.Errorf("problem base with the portal on: %q", b)
	}
	cfg, err = parseChecked("x.yaml", []byte(minimal+"problems: {type_base: \"https://developer.example.com/problems/\"}\n"), noEnv)
	if err != nil || cfg.ProblemTypeBase() != "https://developer.example.com/problems/" {
		t.Fatalf("%v", err)
	}
}

func TestTrafficErrors(t *testing.T) {
	policy := func(body string) string {
		return strings.Replace(minimal, "policy: public", "policy: p", 1) + "policies:\n  p:\n    authenticate: []\n" + body
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"consumer key on an anonymous policy", policy("    rate_limits: [{key: consumer, rate: 1/s}]\n"), "key consumer needs an authenticated caller"},
		{"unknown key part", policy("    rate_limits: [{key: cookie:x, rate: 1/s}]\n"), `key part "cookie:x" is not consumer, ip, route, header:NAME or claim:NAME`},
		{"graduated levels out of order", policy("    graduated: {warn: 5, block: 3}\n"), "x.yaml:12:33: policies.p.graduated.block: block at 3 offences must come after warn at 5"},
		{"graduated ban before throttle", policy("    graduated: {throttle: {after: 10}, ban: {after: 4}}\n"), "policies.p.graduated.ban.after: ban at 4 offences must come after throttle at 10"},
		{"graduated with no level", policy("    graduated: {key: ip}\n"), "graduated needs at least one of warn, throttle, block or ban"},
		{"graduated unknown offence", policy("    graduated: {offences: [rate_limited], block: 3}\n"), `"rate_limited" is not a problem type a client's requests cause; use one of rate-limited,`},
		{"graduated long throttle", policy("    graduated: {throttle: {after: 1, delay: 1m}}\n"), "delay 1m0s is above 10s"},
		{"graduated ban period", policy("    graduated: {ban: {after: 3, periods: [1m, 500ms]}}\n"), "policies.p.graduated.ban.periods[1]: a ban period must be between 1s and 365 days"},
		{"graduated window", policy("    graduated: {window: 48h, block: 3}\n"), "window 48h0m0s must be between 1s and 24h"},
		{"unknown priority", policy("    priority: urgent\n"), `"urgent" is not one of critical, high, normal, low`},
		{"shedding tolerance", strings.Replace(minimal, `url: "http://127.0.0.1:9000"}]}`, `url: "http://127.0.0.1:9000"}], load_shedding: {tolerance: 1}}`, 1),
			"upstreams.app.load_shedding.tolerance: tolerance 1 must be above 1"},
		{"h2 to a cleartext target", strings.Replace(minimal, `url: "http://127.0.0.1:9000"}]}`, `url: "http://127.0.0.1:9000"}], protocol: h2}`, 1),
			"upstreams.app.targets[0].url: protocol h2 needs https:// targets"},
		{"unknown protocol", strings.Replace(minimal, `url: "http://127.0.0.1:9000"}]}`, `url: "http://127.0.0.1:9000"}], protocol: http3}`, 1),
			`"http3" is not one of http1, h2, h2c, grpc`},
		{"grpc health check with a path", strings.Replace(minimal, `url: "http://127.0.0.1:9000"}]}`, `url: "http://127.0.0.1:9000"}], protocol: grpc, health_check: {active: {path: /healthz}}}`, 1),
			"upstreams.app.health_check.active.path: a grpc upstream is checked by the gRPC health checking protocol"},
		{"grpc_service on an HTTP upstream", strings.Replace(minimal, `url: "http://127.0.0.1:9000"}]}`, `url: "http://127.0.0.1:9000"}], health_check: {active: {path: /healthz, grpc_service: x}}}`, 1),
			"grpc_service applies to upstreams with protocol: grpc"},
		{"shedding bounds", strings.Replace(minimal, `url: "http://127.0.0.1:9000"}]}`, `url: "http://127.0.0.1:9000"}], load_shedding: {min_limit: 50, max_limit: 10}}`, 1),
			"max_limit 10 is below min_limit 50"},
		{"bot rule type error", policy("    bots: {rules: [{name: r, action: block, when: 'client.ja4 == 1'}]}\n"), "x.yaml:12:63: policies.p.bots.rules[0].when: condition: found no matching overload"},
		{"bot rule unknown variable", policy("    bots: {rules: [{name: r, action: flag, when: 'client.ja3 == \"x\"'}]}\n"), "undeclared reference to 'client.ja3'"},
		{"unknown feed", policy("    threat_intel: [{feeds: [drop], action: block}]\n"), "policies.p.threat_intel[0].feeds[0]: unknown feed \"drop\""},
		{"feed over http", "threat_intel: {feeds: {drop: {url: \"http://feeds.example/drop.txt\"}}}\n" + policy("    threat_intel: [{feeds: [drop], action: block}]\n"),
			"threat_intel.feeds.drop.url: feeds are downloaded over https only"},
		{"feed without source", "threat_intel: {feeds: {drop: {format: netset}}}\n" + minimal, "threat_intel.feeds.drop: a feed needs url, file or crowdsec"},
		{"feed with two sources", "threat_intel: {feeds: {cs: {file: x.txt, crowdsec: {url: \"http://127.0.0.1:8080\", api_key: env:K}}}}\n" + minimal,
			"threat_intel.feeds.cs: give one of url, file and crowdsec"},
		{"crowdsec in clear", "threat_intel: {feeds: {cs: {crowdsec: {url: \"http://lapi.example:8080\", api_key: env:K}}}}\n" + minimal,
			"threat_intel.feeds.cs.crowdsec.url: the bouncer key would travel in clear to lapi.example:8080"},
		{"crowdsec with a format", "threat_intel: {feeds: {cs: {format: netset, crowdsec: {url: \"https://lapi.example\", api_key: env:K}}}}\n" + minimal,
			"a crowdsec feed has no format"},
		{"crowdsec without key", "threat_intel: {feeds: {cs: {crowdsec: {url: \"https://lapi.example\"}}}}\n" + minimal, "api_key"},
		{"crowdsec filter", "threat_intel: {feeds: {cs: {crowdsec: {url: \"https://lapi.example\", api_key: env:K, origins: [\"a,b\"]}}}}\n" + minimal,
			"threat_intel.feeds.cs.crowdsec.origins[0]: \"a,b\" is not a word the Local API filters on"},
		{"keyset key without key", "keysets: {pii: {primary: k1, keys: [{id: k1}]}}\n" + minimal,
			"keysets.pii.keys[0]: a key is a secret (32 random bytes in base64, as env:NAME or file:PATH) or a token_key (a pkcs11: URI): give one"},
		{"keyset key in a token without module", "keysets: {pii: {primary: k1, keys: [{id: k1, token_key: \"pkcs11:token=t;object=pii\"}]}}\n" + minimal,
			"keysets.pii.keys[0].token_key: a pkcs11: key needs the pkcs11 section"},
		{"stuffing by asn without database", policy("    authenticate: [k]\n    correlate: {credential_stuffing: {key: asn}}\n"),
			"credential_stuffing.key: key asn looks addresses up in an ASN database: add geoip: {asn_database: GeoLite2-ASN.mmdb}"},
		{"geoip without database", "geoip: {}\n" + minimal, "geoip: geoip names no database"},
		{"trail without key", "store: {driver: embedded, path: d.db}\ntrail: {checkpoint_every: 10}\n" + minimal,
			"trail: the trail's checkpoints are signed: give signing_key"},
		{"trail with two keys", "store: {driver: embedded, path: d.db}\ntrail: {signing_key: env:K, token_key: \"pkcs11:token=t;object=o\"}\n" + minimal,
			"trail: give signing_key or token_key, not both"},
		{"trail token key without module", "store: {driver: embedded, path: d.db}\ntrail: {token_key: \"pkcs11:token=t;object=o\"}\n" + minimal,
			"trail.token_key: a pkcs11: key needs the pkcs11 section"},
		{"trail token key not a URI", "store: {driver: embedded, path: d.db}\ntrail: {token_key: /etc/key.pem}\n" + minimal,
			"trail.token_key: token_key names a key in a token"},
		{"crowdsec sink in clear", "events: {sinks: [{type: crowdsec, url: \"http://lapi.example:8080\", machine_id: r, password: env:P}]}\n" + minimal,
			"events.sinks[0].url: the machine's password would travel in clear"},
		{"crowdsec sink without machine", "events: {sinks: [{type: crowdsec, url: \"http://127.0.0.1:8080\", password: env:P}]}\n" + minimal,
			"events.sinks[0].machine_id: a crowdsec sink logs in as a machine"},
		{"crowdsec sink event", "events: {sinks: [{type: crowdsec, url: \"http://127.0.0.1:8080\", machine_id: r, password: env:P, events: [\"Attack!\"]}]}\n" + minimal,
			"events.sinks[0].events[0]: \"Attack!\" is not an event type"},
		{"feed unknown format", "threat_intel: {feeds: {drop: {url: \"https://feeds.example/d\", format: csv}}}\n" + minimal, `"csv" is not one of plain, netset, spamhaus_drop, ja4`},
		{"feed refresh", "threat_intel: {feeds: {drop: {url: \"https://feeds.example/d\", refresh: 10ms}}}\n" + minimal, "refresh 10ms is under 1s"},
		{"feed headers inline", "threat_intel: {feeds: {drop: {url: \"https://feeds.example/d\", headers: {Key: abc}}}}\n" + minimal, "never inline"},
		{"threat challenge without bots", "threat_intel: {feeds: {drop: {url: \"https://feeds.example/d\"}}}\n" + policy("    threat_intel: [{feeds: [drop], action: challenge}]\n"),
			"policies.p.threat_intel[0].action: action challenge serves the bots challenge"},
		{"challenge without secret", policy("    bots: {rules: [{name: r, action: challenge, when: 'true'}]}\n"), "a rule's action is challenge, so bots needs challenge"},
		{"challenge difficulty", policy("    bots: {challenge: {secret: env:RAMPART_TEST_NOPE, difficulty: 40}}\n"), "difficulty 40 must be between 8 and 24 bits"},
		{"cors wildcard with credentials", policy("    cors: {allow_origins: [\"*\"], allow_credentials: true}\n"), "origin * with allow_credentials would let every site"},
		{"cors origin with path", policy("    cors: {allow_origins: [\"https://app.example.com/\"]}\n"), "an origin is scheme://host[:port], with no path"},
		{"cors suffix wildcard", policy("    cors: {allow_origins: [\"https://*.com\"]}\n"), "would match subdomains of a public suffix"},
		{"cors inner wildcard", policy("    cors: {allow_origins: [\"https://app-*.example.com\"]}\n"), "has a wildcard other than a leading *. label"},
		{"cors header wildcard with credentials", policy("    cors: {allow_origins: [\"https://a.example.com\"], allow_headers: [\"*\"], allow_credentials: true}\n"), "allow_headers * cannot go with allow_credentials"},
		{"geo without database", policy("    geo: {allow: [FR]}\n"), "geo rules need a country database: add geoip"},
		{"geo allow and deny", policy("    geo: {allow: [FR], deny: [US]}\n"), "give allow or deny, not both"},
		{"geo country code", policy("    geo: {deny: [usa]}\n"), `"usa" is not an ISO 3166-1 alpha-2 country code`},
		{"ip bad cidr", policy("    ip: {deny: [10.0.0.0/40]}\n"), "policies.p.ip.deny[0]"},
		{"ip empty", policy("    ip: {}\n"), "ip lists no address"},
		{"content type with parameters", policy("    validate: {content_types: [\"application/json; charset=utf-8\"]}\n"), "is not a lower-case media type"},
		{"json depth", policy("    validate: {json: {max_depth: 20000}}\n"), "max_depth 20000 is above 10000"},
		{"strict without openapi", policy("    validate: {strict: true}\n"), "strict refuses operations the OpenAPI document does not describe; give validate.openapi"},
		{"responses without openapi", policy("    validate: {responses: detect}\n"), "responses are checked against the OpenAPI document; give validate.openapi"},
		{"responses: block", policy("    validate: {responses: block}\n"), `"block" is not one of off, detect`},
		{"missing openapi document", policy("    validate: {openapi: nope.yaml}\n"), "policies.p.validate.openapi: nope.yaml: cannot be read as OpenAPI"},
		{"waf paranoia", policy("    waf: {paranoia: 5}\n"), "paranoia 5 must be 1, 2, 3 or 4"},
		{"waf mode", policy("    waf: {mode: log}\n"), `"log" is not one of block, detect`},
		{"waf exclusion rule", policy("    waf: {exclusions: [{rule: 12}]}\n"), "rule 12 is not a CRS rule id"},
		{"waf exclusion target", policy("    waf: {exclusions: [{rule: 942100, target: \"args q\"}]}\n"), "is not a target such as ARGS:json.comment"},
		{"waf rules include", policy("    waf: {rules: \"Include /etc/passwd\"}\n"), "is not one of SecRule, SecAction"},
		{"waf rules engine off", policy("    waf: {rules: \"SecRuleEngine Off\"}\n"), "is not one of SecRule, SecAction"},
		{"waf rules CRS id", policy("    waf: {rules: \"SecRule ARGS \\\"@rx x\\\" \\\"id:942100,deny\\\"\"}\n"), "rule id 942100 is in the range the CRS reserves"},
		{"waf rules before removing CRS rules", policy("    waf: {rules_before: \"SecRuleRemoveById 942100\"}\n"), "not defined yet before the CRS: put it in waf.rules"},
		{"waf rules before engine off", policy("    waf: {rules_before: \"SecRuleEngine Off\"}\n"), "is not one of SecRule, SecAction, SecMarker"},
		{"waf rules before CRS id", policy("    waf: {rules_before: \"SecAction \\\"id:900001,pass\\\"\"}\n"), "rule id 900001 is in the range the CRS reserves"},
		{"graphql get", policy("    validate: {graphql: {get: always}}\n"), `"always" is not one of queries, off`},
		{"anomaly factor", policy("    bots: {anomaly: {factor: 1.5}}\n"), "factor 1.5 must be between 2 and 1000"},
		{"good bot by user agent only", policy("    bots: {good_bots: [{name: g, user_agent: Googlebot}]}\n"), "a User-Agent alone is trivially forged"},
		{"good bot bad cidr", policy("    bots: {good_bots: [{name: g, cidrs: [10.0.0.0/33]}]}\n"), "policies.p.bots.good_bots[0].cidrs[0]"},
		{"graduated consumer key anonymous", policy("    graduated: {key: consumer, block: 3}\n"), "key consumer needs an authenticated caller"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseChecked("x.yaml", []byte(tt.yaml), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("errors:\n%v\nwant one containing %q", err, tt.want)
			}
		})
	}
	ok := policy("    graduated: {warn: 1, throttle: {after: 2}, block: 3, ban: {after: 4}}\n")
	cfg, err := parseChecked("x.yaml", []byte(ok), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	gr := cfg.Policies["p"].Graduated
	if gr.Key != "ip" || gr.Window.D() != time.Minute || gr.Throttle.Delay.D() != time.Second || len(gr.Ban.Periods) != 3 ||
		gr.Ban.Forget.D() != 24*time.Hour || gr.Offences[0] != "rate-limited" {
		t.Fatalf("defaults: %+v %+v %+v", gr, gr.Throttle, gr.Ban)
	}
}

// TestStripResponseHeaders: the default list, and [] to keep them all.
func TestStripResponseHeaders(t *testing.T) {
	cfg, err := parseChecked("x.yaml", []byte(minimal), noEnv)
	if err != nil || len(cfg.Server.StripResponseHeaders) != 6 || cfg.Server.StripResponseHeaders[0] != "Server" {
		t.Fatalf("default: %v %v", cfg.Server.StripResponseHeaders, err)
	}
	cfg, err = parseChecked("x.yaml", []byte(minimal+"server: {strip_response_headers: []}\n"), noEnv)
	if err != nil || len(cfg.Server.StripResponseHeaders) != 0 {
		t.Fatalf("[]: %v %v", cfg.Server.StripResponseHeaders, err)
	}
	if _, err := parseChecked("x.yaml", []byte(minimal+"server: {strip_response_headers: [\"Bad Header\"]}\n"), noEnv); err == nil || !strings.Contains(err.Error(), "is not a header name") {
		t.Fatalf("bad name: %v", err)
	}
}

// TestOpenAPIDocumentRead: the document is read anew on every load (a
// reload sees a changed file, even at an absolute path, which
// kin-openapi's default reader caches for the life of the process), and
// nothing it references outside itself is read.
func TestOpenAPIDocumentRead(t *testing.T) {
	dir := t.TempDir() // absolute
	spec := filepath.Join(dir, "api.yaml")
	cfgFile := filepath.Join(dir, "rampart.yaml")
	os.WriteFile(cfgFile, []byte("version: 1\nupstreams:\n  e: {targets: [{url: \"http://127.0.0.1:1\"}]}\npolicies:\n  p: {validate: {openapi: "+spec+"}}\n"+
		"routes:\n  - {name: r, match: {paths: [\"/**\"]}, upstream: e, policy: p}\n"), 0o600)
	doc := func(paths string) string {
		return "openapi: 3.0.3\ninfo: {title: t, version: \"1\"}\npaths:\n" + paths
	}
	cases := []struct {
		name, spec, err string
	}{
		{"valid", doc("  /a: {get: {responses: {\"200\": {description: ok}}}}\n"), ""},
		{"changed to invalid", "openapi: 3.0.3\npaths: [not, a, map]\n", "cannot be read as OpenAPI"},
		{"valid again", doc("  /b: {get: {responses: {\"200\": {description: ok}}}}\n"), ""},
		{"reference to another file", doc("  /a: {get: {responses: {\"200\": {$ref: \"other.yaml#/r\"}}}}\n"), "references to other documents are not followed"},
		{"reference to a URL", doc("  /a: {get: {responses: {\"200\": {$ref: \"http://169.254.169.254/r\"}}}}\n"), "references to other documents are not followed"},
	}
	for _, c := range cases {
		os.WriteFile(spec, []byte(c.spec), 0o600)
		cfg, err := loadChecked(cfgFile)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: err = %v, want %q", c.name, err, c.err)
		case err == nil && !slices.Contains(cfg.Files(), spec):
			t.Errorf("%s: %v does not list the document", c.name, cfg.Files())
		}
	}
}

// TestCrowdSecFeedsShareNoKey: the Local API sends a bouncer key only
// what changed since its own last pull, so two feeds with one key would
// each miss the other's part.
func TestCrowdSecFeedsShareNoKey(t *testing.T) {
	env := func(name string) (string, bool) {
		return map[string]string{"K1": "key-1", "K2": "key-1", "K3": "key-3"}[name], true
	}
	feeds := func(k2 string) string {
		return `threat_intel:
  feeds:
    bans: {crowdsec: {url: "http://127.0.0.1:8080", api_key: env:K1}}
    captchas: {crowdsec: {url: "http://127.0.0.1:8080", api_key: env:` + k2 + `, decision_types: [captcha]}}
` + minimal
	}
	_, err := parseChecked("x.yaml", []byte(feeds("K2")), env)
	if err == nil || !strings.Contains(err.Error(), "threat_intel.feeds.captchas.crowdsec.api_key: the feed bans already pulls http://127.0.0.1:8080 with this key") {
		t.Errorf("one key for two feeds: %v", err)
	}
	cfg, err := parseChecked("x.yaml", []byte(feeds("K3")), env)
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.ThreatIntel.Feeds["bans"]; f.Refresh.D() != DefaultCrowdSecRefresh || !slices.Equal(f.CrowdSec.DecisionTypes, []string{"ban"}) || f.Format != "" {
		t.Errorf("defaults: refresh %s, types %v, format %q", f.Refresh.D(), f.CrowdSec.DecisionTypes, f.Format)
	}
}
