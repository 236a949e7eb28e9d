package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRedactionEverywhere: one redaction covers the four places data
// leaves the gateway other than the response: personal data and
// credentials in a path, a query, a header and a consumer id reach
// neither the access log, nor the security events, nor the trace spans,
// nor the admin API's output.
func TestRedactionEverywhere(t *testing.T) {
	dir := t.TempDir()
	spans := filepath.Join(dir, "spans.jsonl")
	grpcAddr, _ := startOTLP(t, spans)
	up := startUpstream(t, "api")
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
access_log: {headers: [X-Contact]}
events: {sinks: [{type: jsonl, path: stderr}, {type: jsonl, path: events.jsonl, format: ocsf}]}
tracing: {exporter: otlp_grpc, endpoint: %q, insecure: true}
store: {driver: embedded, path: data/rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  api: {targets: [{url: %s}]}
policies:
  keyed: {authenticate: [keys], authorize: {any_authenticated: true}}
routes:
  - {name: users, match: {paths: ["/v1/**"]}, upstream: api, policy: keyed}
`, grpcAddr, up.url()))
	const email, card = "jane.doe@example.com", "4111111111111111"
	if code, _, errs := g.cli("consumers", "put", "--id", email, "--attr", "backup="+email); code != 0 {
		t.Fatalf("consumers put: %s", errs)
	}
	_, key, _ := g.cli("keys", "create", "--consumer", email)
	key = strings.TrimSpace(key)
	hdr := map[string]string{"X-API-Key": key, "X-Contact": "call " + email}
	path := "/v1/users/" + email + "/cards/" + card + "?notify=" + email + "&token=s3cr3t-t0ken"
	waitFor(t, 5*time.Second, "the key works", func() bool { return do(t, client, "GET", g.url(path), nil, hdr).status == 200 })
	do(t, client, "GET", g.url("/nowhere/"+email), nil, nil) // a 404: an event with the path

	leaks := func(where, s string) {
		t.Helper()
		for _, secret := range []string{email, card, "s3cr3t-t0ken", key} {
			if strings.Contains(s, secret) {
				t.Errorf("%s holds %q: %s", where, secret, s)
			}
		}
	}
	waitFor(t, 10*time.Second, "log lines, events and spans", func() bool {
		n := 0
		for _, l := range g.accessLog(t) {
			if strings.HasPrefix(fmt.Sprint(l["path"]), "/v1/users/") {
				n++
			}
		}
		return n > 0 && len(g.events()) > 0 && len(spansIn(spans)) > 0
	})
	for _, l := range g.accessLog(t) {
		b, _ := json.Marshal(l)
		leaks("the access log", string(b))
		if strings.HasPrefix(fmt.Sprint(l["path"]), "/v1/users/") && (l["consumer"] != "j*******@example.com" || !strings.Contains(fmt.Sprint(l["h_X-Contact"]), "j*******@example.com")) {
			t.Errorf("access log line: %s", b)
		}
	}
	for _, e := range g.events() {
		b, _ := json.Marshal(e)
		leaks("an event", string(b))
	}
	leaks("the OCSF event file", readFile(t, filepath.Join(dir, "events.jsonl")))
	for _, s := range spansIn(spans) {
		b, _ := json.Marshal(s)
		leaks("a span", string(b))
	}
	for _, path := range []string{"/consumers", "/keys", "/config"} {
		r := get(t, "http://"+g.admin+path)
		leaks("admin "+path, string(r.body))
		if path == "/consumers" && !strings.Contains(string(r.body), "j*******@example.com") {
			t.Errorf("admin /consumers: %s", r.body)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
