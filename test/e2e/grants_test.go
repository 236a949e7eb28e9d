package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestJustInTimeGrants: two gateways share a real PostgreSQL store and
// audit trail. A role granted with the CLI for a few seconds lets a
// consumer do what its own roles do not, on both nodes within the sync
// interval, and stops at its expiry on the dot on both; a grant revoked
// through one node's admin API stops on the other. The creation, the
// revocation and the expiry (reported once, by one node) are in the
// trail, which verifies.
func TestJustInTimeGrants(t *testing.T) {
	pg := testenv.StartPostgres(t)
	up := startUpstream(t, "orders")
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	cfg := fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: "127.0.0.1:0"}
events: {sinks: [{type: jsonl, path: stderr}]}
store: {driver: postgres, dsn: file:pg.dsn, sync_interval: 200ms}
trail: {signing_key: "file:trail.key", checkpoint_interval: 500ms}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
consumers:
  - {id: oncall-bot, roles: [orders.reader]}
roles:
  orders.reader: {allow: [{methods: [GET], paths: ["/v1/orders/**"]}]}
  orders.admin: {allow: [{methods: [DELETE], paths: ["/v1/orders/**"]}]}
upstreams:
  orders: {targets: [{url: %s}]}
policies:
  ops:
    authenticate: [keys]
    authorize: {roles: [orders.reader, orders.admin]}
routes:
  - {name: orders, match: {paths: ["/v1/orders/**"]}, upstream: orders, policy: ops}
`, up.url())
	var nodes []*gw
	for range 2 {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "pg.dsn"), pg.DSN+"\n")
		writeFile(t, filepath.Join(dir, "trail.key"), base64.StdEncoding.EncodeToString(seed))
		nodes = append(nodes, startGatewayIn(t, dir, cfg))
	}
	code, key, errs := nodes[0].cli("keys", "create", "--consumer", "oncall-bot")
	if code != 0 {
		t.Fatalf("keys create: %s", errs)
	}
	call := func(g *gw, method string) int {
		return do(t, client, method, g.url("/v1/orders/o-1"), nil, map[string]string{"X-API-Key": key}).status
	}
	for i, g := range nodes {
		waitFor(t, 5*time.Second, fmt.Sprintf("key usable on node %d", i), func() bool { return call(g, "GET") == 200 })
		if s := call(g, "DELETE"); s != 403 {
			t.Fatalf("DELETE before a grant on node %d: %d", i, s)
		}
	}

	// refused: an unknown role, no reason, too long
	for _, bad := range [][]string{
		{"--role", "orders.root", "--for", "1h", "--reason", "x"},
		{"--role", "orders.admin", "--for", "1h"},
		{"--role", "orders.admin", "--for", "800h", "--reason", "x"},
	} {
		if code, _, _ := nodes[0].cli(append([]string{"grants", "create", "--consumer", "oncall-bot"}, bad...)...); code == 0 {
			t.Fatalf("grants create %v succeeded", bad)
		}
	}

	code, id, errs := nodes[0].cli("grants", "create", "--consumer", "oncall-bot", "--role", "orders.admin", "--for", "8s", "--reason", "INC-4711: cancel stuck orders")
	if code != 0 || !strings.HasPrefix(id, "g_") {
		t.Fatalf("grants create: %d %q %s", code, id, errs)
	}
	var grant struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	for i, g := range nodes {
		waitFor(t, 3*time.Second, fmt.Sprintf("the grant on node %d", i), func() bool { return call(g, "DELETE") == 200 })
	}

	// a second grant, revoked through node 1's admin API, stops on node 0
	r := do(t, client, "POST", "http://"+nodes[1].admin+"/grants", strings.NewReader(`{"consumer":"oncall-bot","role":"orders.admin","for":"1h","reason":"CHG-12: bulk fix"}`), nil)
	var second struct{ ID, State string }
	if json.Unmarshal(r.body, &second); r.status != 201 || second.State != "active" {
		t.Fatalf("admin grant: %d %s", r.status, r.body)
	}
	if r := do(t, client, "DELETE", "http://"+nodes[1].admin+"/grants/"+second.ID, nil, nil); r.status != 200 {
		t.Fatalf("admin revoke: %d %s", r.status, r.body)
	}
	if r := do(t, client, "DELETE", "http://"+nodes[1].admin+"/grants/"+second.ID, nil, nil); r.status != 400 {
		t.Fatalf("second revoke: %d %s", r.status, r.body)
	}
	code, out, _ := nodes[0].cli("grants", "list", "--json")
	var active []map[string]any
	if json.Unmarshal([]byte(out), &active); code != 0 || len(active) != 1 || active[0]["id"] != id || active[0]["granted_by"] == "" {
		t.Fatalf("active grants: %s", out)
	}
	_, out, _ = nodes[0].cli("grants", "list", "--all", "--json")
	var all []map[string]any
	_ = json.Unmarshal([]byte(out), &all)
	if len(all) != 2 {
		t.Fatalf("all grants: %s", out)
	}
	_ = json.Unmarshal(must(json.Marshal(active[0])), &grant)

	// the first grant ends at its expiry on both nodes
	time.Sleep(time.Until(grant.ExpiresAt) + 50*time.Millisecond)
	for i, g := range nodes {
		if s := call(g, "DELETE"); s != 403 {
			t.Fatalf("DELETE after the expiry on node %d: %d", i, s)
		}
		if s := call(g, "GET"); s != 200 {
			t.Fatalf("GET after the expiry on node %d: %d", i, s)
		}
	}
	expiredEvents := func() int {
		n := 0
		for _, g := range nodes {
			for _, e := range g.events() {
				if e["type"] == "admin.grant_expired" && e["rule"] == id {
					n++
				}
			}
		}
		return n
	}
	waitFor(t, 15*time.Second, "the expiry reported", func() bool { return expiredEvents() == 1 })
	time.Sleep(6 * time.Second) // another tick of both nodes' watch
	if n := expiredEvents(); n != 1 {
		t.Fatalf("the expiry was reported %d times", n)
	}

	var trail string
	waitFor(t, 10*time.Second, "the trail with the grant's life", func() bool {
		_, trail, _ = nodes[1].cli("trail", "export")
		return strings.Contains(trail, "admin.grant_expired")
	})
	for _, want := range []string{`"actor":"cli`, `"action":"admin.grant_created"`, "INC-4711: cancel stuck orders", `"action":"admin.grant_revoked"`, `"action":"admin.grant_expired"`} {
		if !strings.Contains(trail, want) {
			t.Errorf("the trail lacks %s:\n%s", want, trail)
		}
	}
	waitFor(t, 10*time.Second, "the trail verifies", func() bool {
		code, out, _ := nodes[0].cli("trail", "verify")
		return code == 0 && strings.Contains(out, "ok: ") && !strings.Contains(out, "not signed yet")
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
