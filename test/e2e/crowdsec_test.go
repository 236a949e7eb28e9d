package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestCrowdSec runs the gateway with a real CrowdSec Local API, both
// ways: as a bouncer (a decision made with cscli refuses the address at
// the gateway within a pull, and its deletion lets it back), and as a
// source of signals (the gateway's own ban is pushed as an alert, the
// Local API's profile makes it a decision for every bouncer, the
// gateway's feed among them).
func TestCrowdSec(t *testing.T) {
	cs := testenv.StartCrowdSec(t)
	up := startUpstream(t, "app")
	dir := t.TempDir()
	key := cs.AddBouncer("rampart")
	t.Setenv("RAMPART_TEST_CROWDSEC_KEY", key)
	t.Setenv("RAMPART_TEST_CROWDSEC_PASSWORD", cs.AddMachine("rampart"))
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: 127.0.0.1:0}
events:
  sinks:
    - {type: jsonl, path: stderr}
    - {type: crowdsec, url: %[1]s, machine_id: rampart, password: env:RAMPART_TEST_CROWDSEC_PASSWORD, events: [abuse.ban]}
threat_intel:
  feeds:
    crowdsec:
      crowdsec: {url: %[1]s, api_key: env:RAMPART_TEST_CROWDSEC_KEY}
      refresh: 1s
upstreams:
  app: {targets: [{url: %[2]s}]}
policies:
  api:
    authenticate: []
    threat_intel: [{feeds: [crowdsec], action: block}]
  login:
    authenticate: []
    threat_intel: [{feeds: [crowdsec], action: block}]
    rate_limits: [{key: ip, rate: 1/m, burst: 1, name: login-ip}]
    graduated: {key: ip, offences: [rate-limited], window: 1m, ban: {after: 2, periods: [2s]}}
routes:
  - {name: api, match: {paths: ["/api/**"]}, upstream: app, policy: api}
  - {name: login, match: {paths: ["/login"]}, upstream: app, policy: login}
`, cs.URL, up.url()))
	from := func(path, ip string) response {
		t.Helper()
		return do(t, client, "GET", g.url(path), nil, map[string]string{"X-Forwarded-For": ip})
	}
	listed := func(path, ip string) bool {
		r := from(path, ip)
		if r.status == 200 {
			return false
		}
		p := problemOf(t, r, 403)
		if p["type"] != "tag:rampart-gw.github.io,2026:problems/threat-listed" {
			t.Fatalf("%s from %s: %v", path, ip, p)
		}
		return true
	}

	// bouncer: a decision made in CrowdSec, then lifted
	if listed("/api/x", "192.0.2.10") {
		t.Fatal("listed before any decision")
	}
	cs.Decide("--ip", "192.0.2.10", "ban", time.Hour)
	cs.Decide("--range", "192.0.2.128/25", "ban", time.Hour)
	cs.Decide("--ip", "192.0.2.20", "captcha", time.Hour) // not a ban: this feed leaves it
	waitFor(t, 10*time.Second, "the decision to reach the gateway", func() bool { return listed("/api/x", "192.0.2.10") })
	if !listed("/api/x", "192.0.2.200") || listed("/api/x", "192.0.2.20") || listed("/api/x", "192.0.2.11") {
		t.Fatal("the range, the captcha or a neighbour is wrong")
	}
	var feeds struct{ Feeds []map[string]any }
	if err := json.Unmarshal(do(t, client, "GET", "http://"+g.admin+"/threat-intel/feeds", nil, nil).body, &feeds); err != nil || len(feeds.Feeds) != 1 {
		t.Fatalf("feeds: %v %v", err, feeds)
	}
	if f := feeds.Feeds[0]; f["format"] != "crowdsec" || f["entries"] != 2.0 || f["source"] != cs.URL || f["error"] != nil {
		t.Fatalf("the feed's status: %v", f)
	}
	cs.Cscli("decisions", "delete", "--ip", "192.0.2.10")
	waitFor(t, 10*time.Second, "the deletion to reach the gateway", func() bool { return !listed("/api/x", "192.0.2.10") })

	// signals: the gateway bans a client, CrowdSec decides on it, and the
	// decision comes back to every bouncer
	const attacker = "198.51.100.7"
	statuses := []int{}
	for range 4 {
		statuses = append(statuses, from("/login", attacker).status)
	}
	if fmt.Sprint(statuses) != "[200 429 429 403]" {
		t.Fatalf("login attempts: %v, want 200, two 429s, then the gateway's ban", statuses)
	}
	waitFor(t, 15*time.Second, "CrowdSec's decision on the gateway's ban", func() bool { return listed("/api/x", attacker) })
	var decisions []struct {
		Scenario  string `json:"scenario"`
		Decisions []struct {
			Value, Type, Origin string
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(cs.Cscli("alerts", "list", "--ip", attacker, "-o", "json")), &decisions); err != nil || len(decisions) != 1 {
		t.Fatalf("alerts on %s: %v %+v", attacker, err, decisions)
	}
	if a := decisions[0]; a.Scenario != "rampart/abuse.ban" || len(a.Decisions) != 1 || a.Decisions[0].Type != "ban" {
		t.Errorf("the alert: %+v", a)
	}
	if strings.Contains(g.stderr.String(), key) {
		t.Error("the bouncer key reached the logs")
	}
}
