package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResponseFilters: through the running gateway, fields are removed
// from and personal data masked in the upstream's JSON and text
// responses, a response too large to filter is withheld with a problem,
// and every masked value is counted (metrics, a data.masked event) with
// no value itself anywhere in the gateway's output.
func TestResponseFilters(t *testing.T) {
	up := startUpstream(t, "crm")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  crm: {targets: [{url: %s}]}
detectors:
  order_ref: {pattern: 'ORD-[0-9]{8}', keep_first: 4, keep_last: 2}
policies:
  support:
    authenticate: []
    response:
      remove_fields: [ssn, internal, "orders[*].internal_cost", "**.password"]
      mask: [email, phone, card, iban, ip, order_ref]
  tight:
    authenticate: []
    response: {mask: [email], max_body_bytes: 256}
  tight-pass:
    authenticate: []
    response: {mask: [email], max_body_bytes: 256, on_oversize: pass}
routes:
  - {name: support, match: {paths: ["/v1/**"]}, upstream: crm, policy: support, rewrite: {strip_prefix: /v1}}
  - {name: tight, match: {paths: ["/v2/**"]}, upstream: crm, policy: tight, rewrite: {strip_prefix: /v2}}
  - {name: tight-pass, match: {paths: ["/v3/**"]}, upstream: crm, policy: tight-pass, rewrite: {strip_prefix: /v3}}
`, up.url()))

	// JSON: removed and masked; the client's Accept-Encoding: gzip (Go's
	// client sends it) did not stop the filter.
	r := get(t, g.url("/v1/customers/42"))
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var c map[string]any
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatalf("not JSON: %v: %s", err, r.body)
	}
	for _, gone := range []string{"ssn", "internal"} {
		if _, ok := c[gone]; ok {
			t.Errorf("%s not removed: %s", gone, r.body)
		}
	}
	if acct := c["account"].(map[string]any); acct["password"] != nil || acct["last_ip"] != "192.0.*.**" || acct["login"] != "jane" {
		t.Errorf("account: %v", acct)
	}
	for _, o := range c["orders"].([]any) {
		if _, ok := o.(map[string]any)["internal_cost"]; ok {
			t.Errorf("internal_cost not removed: %v", o)
		}
	}
	for field, want := range map[string]string{"email": "j*******@example.com", "phone": "+** ** **** **58", "card": "4111 **** **** 1111",
		"iban": "GB** **** **** **** **54 32", "name": "Jane Doe", "note": "Order ORD-******24 was paid; receipt sent to j*******@example.com."} {
		if c[field] != want {
			t.Errorf("%s = %q, want %q", field, c[field], want)
		}
	}
	for _, leak := range []string{"jane.doe@", "7946 0958", "1111 1111 1111", "078-05-1120", "hunter", "$2a$", "CRM-7781", "20261124", "192.0.2.44"} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("%q reached the client: %s", leak, r.body)
		}
	}

	// text
	r = get(t, g.url("/v1/customers/42.txt"))
	want := "Customer 42: Jane Doe <j*******@example.com>, phone +** ** **** **58, card 4111 **** **** 1111, IBAN GB** **** **** **** **54 32, SSN 078-05-1120, last login from 192.0.*.**.\n"
	if r.status != 200 || string(r.body) != want {
		t.Errorf("text: %d\n got %q\nwant %q", r.status, r.body, want)
	}

	// neither JSON nor text: untouched
	if r = get(t, g.url("/v1/bytes/100")); r.status != 200 || len(r.body) != 100 {
		t.Errorf("bytes: %d, %d bytes", r.status, len(r.body))
	}

	// too large to hold: withheld, or passed when the policy says so
	r = get(t, g.url("/v2/customers/42"))
	p := problemOf(t, r, 502)
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/response-not-filtered" || strings.Contains(string(r.body), "jane") {
		t.Errorf("oversize: %s", r.body)
	}
	if r = get(t, g.url("/v3/customers/42")); r.status != 200 || !strings.Contains(string(r.body), "jane.doe@example.com") {
		t.Errorf("on_oversize pass: %d %s", r.status, r.body)
	}

	waitFor(t, 5*time.Second, "data.masked events", func() bool {
		n := 0
		for _, e := range g.events() {
			if e["type"] == "data.masked" {
				n++
			}
		}
		return n == 2
	})
	for _, e := range g.events() {
		// The request id is random hex, which can hold "4111" by chance.
		shown := maps.Clone(e)
		delete(shown, "request_id")
		b, _ := json.Marshal(shown)
		if strings.Contains(string(b), "jane") || strings.Contains(string(b), "4111") {
			t.Errorf("an event holds a masked value: %s", b)
		}
		if e["type"] == "data.masked" && e["path"] == "/v1/customers/42" {
			m := e["masked"].(map[string]any)
			if m["email"] != 2.0 || m["card"] != 1.0 || m["order_ref"] != 3.0 || m["ip"] != 1.0 {
				t.Errorf("counts: %v", m)
			}
		}
	}
	g.metricsHave(t,
		`rampart_masked_values_total{detector="email",policy="support"} 3`,
		`rampart_response_filter_total{outcome="filtered",policy="support"} 2`,
		`rampart_response_filter_total{outcome="skipped",policy="support"} 1`,
		`rampart_response_filter_total{outcome="refused",policy="tight"} 1`,
		`rampart_response_filter_total{outcome="oversize_passed",policy="tight-pass"} 1`)
	for _, line := range g.accessLog(t) {
		b, _ := json.Marshal(line)
		if strings.Contains(string(b), "jane") {
			t.Errorf("the access log holds a masked value: %s", b)
		}
	}
}

// TestFieldEncryption: chosen fields of a request body reach the
// upstream encrypted; in responses they are decrypted for consumers with
// the decrypt role only; a key rotation keeps old ciphertexts readable;
// a tampered ciphertext is refused, never passed on half decrypted.
func TestFieldEncryption(t *testing.T) {
	up := startUpstream(t, "vault")
	dir := t.TempDir()
	k1, k2 := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(k1)
	_, _ = rand.Read(k2)
	writeFile(t, filepath.Join(dir, "k1.key"), base64.StdEncoding.EncodeToString(k1))
	writeFile(t, filepath.Join(dir, "k2.key"), base64.StdEncoding.EncodeToString(k2))
	config := func(primary string) string {
		return fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
store: {driver: embedded, path: data/rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  vault: {targets: [{url: %s}]}
keysets:
  pii:
    primary: %s
    keys: [{id: k1, secret: "file:k1.key"}, {id: k2, secret: "file:k2.key"}]
roles:
  support.lead: {allow: [{methods: [POST], paths: ["/v1/**", "/v2/**"]}]}
  support.agent: {allow: [{methods: [POST], paths: ["/v1/**", "/v2/**"]}]}
consumers:
  - {id: lead, roles: [support.lead]}
  - {id: agent, roles: [support.agent]}
policies:
  vault:
    authenticate: [keys]
    authorize: {roles: [support.lead, support.agent]}
    request: {encrypt_fields: [card, "**.ssn"], keyset: pii}
    response: {decrypt_fields: [card, "**.ssn"], decrypt_for: [support.lead], keyset: pii}
  vault-read:
    authenticate: [keys]
    authorize: {roles: [support.lead, support.agent]}
    response: {decrypt_fields: [card, "**.ssn"], decrypt_for: [support.lead], keyset: pii}
routes:
  - {name: vault, match: {paths: ["/v1/**"]}, upstream: vault, policy: vault, rewrite: {strip_prefix: /v1}}
  - {name: vault-read, match: {paths: ["/v2/**"]}, upstream: vault, policy: vault-read, rewrite: {strip_prefix: /v2}}
`, up.url(), primary)
	}
	g := startGatewayIn(t, dir, config("k1"))
	_, lead, _ := g.cli("keys", "create", "--consumer", "lead")
	_, agent, _ := g.cli("keys", "create", "--consumer", "agent")
	lead, agent = strings.TrimSpace(lead), strings.TrimSpace(agent)
	encrypted := 0 // requests through /v1 the upstream answered: each had a card to encrypt
	post := func(key, path, body string) response {
		r := do(t, client, "POST", g.url(path), strings.NewReader(body), map[string]string{"X-API-Key": key, "Content-Type": "application/json"})
		if strings.HasPrefix(path, "/v1/") && r.status == 200 {
			encrypted++
		}
		return r
	}
	const doc = `{"name":"Jane","card":"4111 1111 1111 1111","kin":{"ssn":"078-05-1120"}}`

	// The upstream (/mirror answers with what it got) saw ciphertext; the
	// agent gets it back as it is, the lead in clear.
	waitFor(t, 5*time.Second, "keys usable", func() bool { return post(agent, "/v1/mirror", doc).status == 200 })
	r := post(agent, "/v1/mirror", doc)
	var seen struct {
		Name string `json:"name"`
		Card string `json:"card"`
		Kin  struct {
			SSN string `json:"ssn"`
		} `json:"kin"`
	}
	if err := json.Unmarshal(r.body, &seen); err != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if seen.Name != "Jane" || !strings.HasPrefix(seen.Card, "eyJ") || strings.Count(seen.Card, ".") != 4 || !strings.HasPrefix(seen.Kin.SSN, "eyJ") {
		t.Fatalf("the upstream saw, and the agent got: %s", r.body)
	}
	if r = post(lead, "/v1/mirror", doc); r.status != 200 || string(r.body) != doc {
		t.Fatalf("lead: %d %s", r.status, r.body)
	}
	// What was stored under k1 still opens for the lead after k2 becomes
	// primary (/v2 decrypts responses and leaves requests alone: the
	// upstream sends back what it stored).
	stored, _ := json.Marshal(map[string]string{"card": seen.Card})
	g.rewrite(t, config("k2"), true)
	waitFor(t, 5*time.Second, "reload to k2", func() bool {
		r := post(agent, "/v1/mirror", `{"card":"1"}`)
		return r.status == 200 && strings.Contains(headerOfJWE(t, r.body), `"kid":"k2"`)
	})
	if r = post(lead, "/v2/mirror", string(stored)); r.status != 200 || string(r.body) != `{"card":"4111 1111 1111 1111"}` {
		t.Errorf("old ciphertext after rotation: %d %s", r.status, r.body)
	}
	if r = post(agent, "/v2/mirror", string(stored)); r.status != 200 || string(r.body) != string(stored) {
		t.Errorf("agent: %d %s", r.status, r.body)
	}
	// Tampered (the tag's last characters changed): the lead's response is
	// withheld; the agent, who never gets clear text, gets it as it is.
	tag := seen.Card[strings.LastIndexByte(seen.Card, '.')+1:]
	tampered := strings.Replace(string(stored), "."+tag, "."+strings.Repeat("A", len(tag)), 1)
	r = post(lead, "/v2/mirror", tampered)
	if p := problemOf(t, r, 502); p["type"] != "tag:rampart-gw.github.io,2026:problems/response-not-filtered" || !strings.Contains(p["detail"].(string), "does not decrypt") {
		t.Errorf("tampered: %s", r.body)
	}
	if r = post(agent, "/v2/mirror", tampered); r.status != 200 {
		t.Errorf("tampered, agent: %d %s", r.status, r.body)
	}
	// As many as were sent: the waits above poll, so the number varies.
	g.metricsHave(t, fmt.Sprintf(`rampart_field_encryption_total{outcome="encrypted",policy="vault"} %d`+"\n", encrypted))
}

// headerOfJWE returns the protected header of the card field's JWE.
func headerOfJWE(t *testing.T, body []byte) string {
	var v struct {
		Card string `json:"card"`
	}
	if json.Unmarshal(body, &v) != nil || !strings.Contains(v.Card, ".") {
		return ""
	}
	h, _ := base64.RawURLEncoding.DecodeString(v.Card[:strings.IndexByte(v.Card, '.')])
	return string(h)
}
