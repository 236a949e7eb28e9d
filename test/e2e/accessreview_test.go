package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rampart-gw/rampart/internal/store"
)

// TestAccessReview: a key created 100 days ago and never used is
// revoked by the gateway's automatic review soon after it starts, into
// the audit trail; a key in use is not. The uses and the roles they
// exercised reach the store, and `rampart access review` reports every
// consumer with its keys, roles and grants, flagging the role never
// exercised and the grant about to lapse, as a table, JSON and CSV.
func TestAccessReview(t *testing.T) {
	up := startUpstream(t, "orders")
	dir := t.TempDir()
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	writeFile(t, filepath.Join(dir, "trail.key"), base64.StdEncoding.EncodeToString(seed))
	cfg := fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: "127.0.0.1:0"}
events: {sinks: [{type: jsonl, path: stderr}]}
store: {driver: embedded, path: data/rampart.db, sync_interval: 200ms}
trail: {signing_key: "file:trail.key", checkpoint_interval: 500ms}
access_review: {unused_after: 30d, lapse_within: 2h, revoke_unused_keys: true}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
consumers:
  - {id: acme, roles: [orders.reader, orders.admin]}
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
	path := filepath.Join(dir, "rampart.yaml")
	writeFile(t, path, cfg)
	cli := func(args ...string) (int, string, string) { return (&gw{cfg: path}).cli(args...) }
	_, used, _ := cli("keys", "create", "--consumer", "acme")
	_, stale, _ := cli("keys", "create", "--consumer", "acme")
	staleID := strings.Split(stale, "_")[1]
	if code, _, errs := cli("grants", "create", "--consumer", "acme", "--role", "orders.admin", "--for", "1h", "--reason", "CHG-7"); code != 0 {
		t.Fatal(errs)
	}
	// the stale key was made 100 days ago: its record, as the store has it
	db, err := bolt.Open(filepath.Join(dir, "data/rampart.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("keys"))
		var k store.Key
		if err := json.Unmarshal(b.Get([]byte(staleID)), &k); err != nil {
			return err
		}
		k.CreatedAt = time.Now().Add(-100 * 24 * time.Hour)
		v, _ := json.Marshal(k)
		return b.Put([]byte(staleID), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	g := startGatewayIn(t, dir, cfg)
	waitFor(t, 15*time.Second, "the stale key revoked by the review", func() bool {
		for _, e := range g.events() {
			if e["type"] == "admin.key_revoked" && e["rule"] == staleID {
				return strings.Contains(e["detail"].(string), "revoked by the access review")
			}
		}
		return false
	})
	waitFor(t, 3*time.Second, "the revocation applied", func() bool {
		return do(t, client, "GET", g.url("/v1/orders/1"), nil, map[string]string{"X-API-Key": stale}).status == 401
	})
	if r := do(t, client, "GET", g.url("/v1/orders/1"), nil, map[string]string{"X-API-Key": used}); r.status != 200 {
		t.Fatalf("the key in use: %d %s", r.status, r.body)
	}
	var rep struct {
		Findings  int
		Consumers []struct {
			ID    string
			Roles []struct {
				Name, Via string
				LastUsed  time.Time `json:"last_used"`
				Flags     []string
			}
			Keys []struct {
				ID, State string
				LastUsed  time.Time `json:"last_used"`
				Flags     []string
			}
			Grants []struct{ Role string }
		}
	}
	if r := get(t, "http://"+g.admin+"/access-review"); r.status != 200 || json.Unmarshal(r.body, &rep) != nil || len(rep.Consumers) != 1 {
		t.Fatalf("admin access review: %d %s", r.status, r.body)
	}

	// stop: the node writes the uses it saw
	g.signal(t, syscall.SIGTERM)
	<-g.done
	code, out, errs := cli("access", "review", "--format", "json", "--lapse-within", "2h")
	rep.Consumers = nil // decoded afresh: omitted flags must not carry over
	if code != 3 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("access review: %d %s %s", code, out, errs)
	}
	acme := rep.Consumers[0]
	roles := map[string][]string{}
	var readerUsed time.Time
	for _, r := range acme.Roles {
		roles[r.Name+" via "+r.Via] = r.Flags
		if r.Name == "orders.reader" {
			readerUsed = r.LastUsed
		}
	}
	if fmt.Sprint(roles) != "map[orders.admin via config:[role-never-used] orders.reader via config:[]]" || time.Since(readerUsed) > time.Minute {
		t.Fatalf("roles %v, orders.reader last used %v", roles, readerUsed)
	}
	for _, k := range acme.Keys {
		switch {
		case strings.Contains(stale, k.ID) && (k.State != "revoked" || len(k.Flags) != 0):
			t.Errorf("the stale key: %+v", k)
		case strings.Contains(used, k.ID) && (k.State != "active" || time.Since(k.LastUsed) > time.Minute || len(k.Flags) != 0):
			t.Errorf("the key in use: %+v", k)
		}
	}
	if len(acme.Grants) != 1 || rep.Findings != 2 { // role-never-used, grant-lapses-soon
		t.Errorf("grants %+v, findings %d", acme.Grants, rep.Findings)
	}
	if code, out, _ := cli("access", "review", "--format", "csv"); code != 3 || !strings.HasPrefix(out, "consumer,kind,subject,state,created,last_used,expires,flags") ||
		!strings.Contains(out, "acme,role,orders.admin,via config,,,,role-never-used") {
		t.Errorf("csv: %d\n%s", code, out)
	}
	if code, out, _ := cli("access", "review"); code != 3 || !strings.Contains(out, "role-never-used") || !strings.Contains(out, "2 findings") {
		t.Errorf("table: %d\n%s", code, out)
	}
	_, trail, _ := cli("trail", "export")
	if !strings.Contains(trail, `"action":"admin.key_revoked"`) || !strings.Contains(trail, "unused since it was created") {
		t.Errorf("the review's revocation is not in the trail:\n%s", trail)
	}
}
