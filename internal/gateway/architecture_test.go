package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/api/annotations"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/rampart-gw/rampart/internal/config"
)

// everyStage is a config whose route goes through every stage a policy
// can enable.
const everyStage = `version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {disabled: true}
access_log: {path: %[1]s/access.log}
authenticators:
  idp: {type: jwt, issuer: "https://idp.test", jwks_uri: "http://127.0.0.1:1/jwks", audiences: [a]}
threat_intel:
  feeds: {bad: {file: %[1]s/bad.txt}}
keysets:
  k: {primary: k1, keys: [{id: k1, secret: env:FIELD_KEY}]}
upstreams:
  api:
    targets: [{url: "http://127.0.0.1:1"}]
    load_shedding: {}
  rpc: {protocol: grpc, targets: [{url: "http://127.0.0.1:2"}]}
policies:
  all:
    authenticate: [idp]
    authorize: {any_authenticated: true}
    ip: {allow: [0.0.0.0/0, "::/0"]}
    cors: {allow_origins: ["https://app.example"]}
    graduated: {block: 3}
    threat_intel: [{feeds: [bad], action: flag}]
    correlate: {credential_stuffing: {}, enumeration: {}}
    bots: {rules: [{name: curl, when: 'client.user_agent.startsWith("curl")', action: flag}]}
    rate_limits: [{key: ip, rate: 100/s}, {key: consumer, rate: 10/s}]
    quota: {limit: 1000, period: day}
    concurrency: {limit: 10}
    validate: {max_body_bytes: 1KiB, json: {max_depth: 10}, openapi: %[1]s/api.yaml}
    waf: {paranoia: 1}
    request: {encrypt_fields: [ssn], keyset: k}
    response: {remove_fields: [secret]}
  calls:
    authenticate: [idp]
    authorize: {any_authenticated: true}
    waf: {paranoia: 1}
routes:
  - {name: r, match: {paths: ["/**"]}, upstream: api, policy: all,
     deprecation: {since: 2026-01-01, sunset: 2999-01-01, link: "https://docs.example/v2", successor: /v2},
     cache: {ttl: 10s},
     transform: {request: {headers: {set: {X-Tenant: "{{ consumer.id }}"}}}, response: {replace_errors: [5xx]}}}
  - {name: rpc, match: {paths: ["/pkg.Service/{method}"]}, upstream: rpc, policy: calls, grpc: {}}
  - {name: rest, match: {paths: ["/rest/**"]}, upstream: rpc, policy: calls, transcode: {descriptor_set: %[1]s/api.pb}}
  - {name: gql, match: {paths: ["/users/{id}"], methods: [GET]}, upstream: api, policy: all,
     graphql_operation: {query: "query U($id: ID!) { user(id: $id) { name } }", variables: {id: "{{ params.id }}"}}}
  - {name: soap, match: {paths: ["/accounts/{id}"], methods: [GET]}, upstream: api, policy: all,
     soap_operation: {endpoint: /ws, action: GetAccount, body: "<GetAccount><id>{{ params.id }}</id></GetAccount>"}}
`

// TestArchitectureListsStages: every stage a route can have is in the
// request path of docs/architecture.md, by the name its span carries,
// and this config, which enables every policy section, builds each of
// them.
func TestArchitectureListsStages(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api.yaml"), []byte("openapi: 3.0.3\ninfo: {title: t, version: \"1\"}\npaths: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeDescriptorSet(t, filepath.Join(dir, "api.pb"))
	if err := os.WriteFile(filepath.Join(dir, "bad.txt"), []byte("192.0.2.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) { return "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", k == "FIELD_KEY" }
	cfg, err := config.ParseWith(filepath.Join(dir, "r.yaml"), fmt.Appendf(nil, everyStage, dir), env, LoadOptions(false, nil))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(t.Context())
	got := g.current.Load().routes[0].stages
	want := []string{"lifecycle", "ip_filter", "cors", "rate_limit", "correlate", "threat_intel", "bots", "rate_limit", "body_limit", "body_structure", "authenticate",
		"authorize", "rate_limit", "rate_limit", "rate_limit", "schema", "waf", "cache", "load_shedding", "response_filter",
		"security_headers", "transform", "encrypt_fields", "identity"}
	if !slices.Equal(got, want) {
		t.Errorf("stages of a route with every policy section:\n got %v\nwant %v", got, want)
	}
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| stage").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	built := slices.Concat(got, g.current.Load().routes[1].stages, g.current.Load().routes[2].stages, g.current.Load().routes[3].stages, g.current.Load().routes[4].stages)
	for _, name := range built {
		if !documented[name] {
			t.Errorf("stage %s is not in the stage table of docs/architecture.md", name)
		}
	}
	for name := range documented {
		if !slices.Contains(built, name) {
			t.Errorf("docs/architecture.md lists a stage %s that no route builds", name)
		}
	}
}

// writeDescriptorSet writes a descriptor set with one HTTP rule: the
// gRPC interop TestService's EmptyCall at GET /rest/empty.
func writeDescriptorSet(t *testing.T, path string) {
	t.Helper()
	fdp := protodesc.ToFileDescriptorProto(testgrpc.File_grpc_testing_test_proto)
	m := fdp.GetService()[0].GetMethod()[0]
	m.Options = &descriptorpb.MethodOptions{}
	proto.SetExtension(m.Options, annotations.E_Http, &annotations.HttpRule{Pattern: &annotations.HttpRule_Get{Get: "/rest/empty"}})
	b, err := proto.Marshal(&descriptorpb.FileDescriptorSet{File: []*descriptorpb.FileDescriptorProto{fdp}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
