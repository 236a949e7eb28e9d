package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/rampart-gw/rampart/internal/store"
)

// TestAuditTrail: admin actions through the API and the CLI, a failed
// admin login and a severe security event go into the hash-chained trail;
// `rampart trail verify` finds it intact (with the anchor the gateway
// published), `rampart trail export` lists it, and after an entry is
// edited in the store file, verify names that entry and exits 1.
func TestAuditTrail(t *testing.T) {
	up := startUpstream(t, "api")
	dir := t.TempDir()
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	writeFile(t, filepath.Join(dir, "trail.key"), base64.StdEncoding.EncodeToString(seed))
	writeFile(t, filepath.Join(dir, "admin.token"), "admin-secret")
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0", token: "file:admin.token"}
store: {driver: embedded, path: data/rampart.db}
trail: {signing_key: "file:trail.key", checkpoint_every: 4, checkpoint_interval: 500ms}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
consumers:
  - {id: acme}
upstreams:
  api: {targets: [{url: %s}]}
policies:
  keyed: {authenticate: [keys], authorize: {any_authenticated: true}}
routes:
  - {name: keyed, match: {paths: ["/v1/**"]}, upstream: api, policy: keyed}
`, up.url()))
	adminDo := func(method, path, token, body string) response {
		hdr := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			hdr["Authorization"] = "Bearer " + token
		}
		return do(t, client, method, "http://"+g.admin+path, strings.NewReader(body), hdr)
	}
	r := adminDo("POST", "/keys", "admin-secret", `{"consumer":"acme"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created struct {
		Key  string `json:"key"`
		Info struct {
			ID string `json:"id"`
		} `json:"info"`
	}
	_ = json.Unmarshal(r.body, &created)
	if r = adminDo("POST", "/keys/"+created.Info.ID+"/revoke", "admin-secret", ""); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r = adminDo("GET", "/config/status", "wrong-token", ""); r.status != 401 {
		t.Fatalf("bad token: %d", r.status)
	}
	if code, _, errs := g.cli("keys", "create", "--consumer", "acme"); code != 0 {
		t.Fatalf("cli: %d %s", code, errs)
	}
	do(t, client, "GET", g.url("/v1/orders"), nil, map[string]string{"X-API-Key": "rk_bogus_nope"}) // 401: medium severity

	// The gateway signs what it has within the checkpoint interval and
	// publishes the anchor.
	var anchor string
	waitFor(t, 10*time.Second, "a trail.checkpoint event after the last action", func() bool {
		for _, e := range g.events() {
			if e["type"] == "trail.checkpoint" {
				anchor = e["rule"].(string)
			}
		}
		code, out, _ := g.cli("trail", "verify")
		return anchor != "" && code == 0 && !strings.Contains(out, "not signed yet") && strings.Contains(out, "ok: ")
	})
	code, out, errs := g.cli("trail", "verify", "--anchor", anchor)
	if code != 0 || !strings.Contains(out, "ok: ") {
		t.Fatalf("verify: %d %s %s", code, out, errs)
	}
	code, out, _ = g.cli("trail", "export")
	if code != 0 {
		t.Fatalf("export: %d", code)
	}
	var actions []string
	for _, line := range strings.Split(out, "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			actions = append(actions, fmt.Sprint(e["actor"], " ", e["action"]))
			if strings.Contains(line, created.Key) || strings.Contains(line, "admin-secret") || strings.Contains(line, "rk_bogus") {
				t.Errorf("a secret is in the trail: %s", line)
			}
		}
	}
	all := strings.Join(actions, "\n")
	for _, want := range []string{"admin-api admin.key_created", "admin-api admin.key_revoked", "admin-api admin.auth_failed", "cli admin.key_created", "gateway request.refused", "gateway trail.checkpoint"} {
		if !strings.Contains(all, want) {
			t.Errorf("the trail lacks %q:\n%s", want, all)
		}
	}
	code, out, _ = g.cli("trail", "export", "--format", "ocsf")
	if code != 0 || !strings.Contains(out, `"class_uid":3002`) {
		t.Errorf("ocsf export: %d %s", code, out)
	}

	// Stop the gateway, edit the second entry in the file: verify says so.
	g.signal(t, syscall.SIGTERM)
	<-g.done
	db, err := bolt.Open(filepath.Join(dir, "data/rampart.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("trail"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		var rec store.TrailRecord
		if err := json.Unmarshal(b.Get(k), &rec); err != nil {
			return err
		}
		var e map[string]any
		if err := json.Unmarshal(rec.Data, &e); err != nil {
			return err
		}
		e["detail"] = "nothing happened here"
		rec.Data, _ = json.Marshal(e)
		v, _ := json.Marshal(rec)
		return b.Put(k, v)
	})
	_ = db.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = g.cli("trail", "verify")
	if code != 1 || !strings.Contains(out, "TAMPERED at entry 2") {
		t.Errorf("after an edit: %d %s", code, out)
	}
}
