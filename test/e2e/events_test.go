package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// startReceiver runs the HTTP event receiver process; it writes what it
// gets to out.
func startReceiver(t *testing.T, out string, args ...string) string {
	t.Helper()
	p := startBin(t, receiverBinary, append([]string{"-listen", "127.0.0.1:0", "-out", out}, args...)...)
	var addr string
	waitFor(t, 20*time.Second, "receiver", func() bool {
		s := p.stderr.String()
		if j := strings.Index(s, "receiver listening on "); j >= 0 {
			addr = strings.TrimSpace(strings.SplitN(s[j+len("receiver listening on "):], "\n", 2)[0])
			return true
		}
		return false
	})
	return "http://" + addr
}

// received reads the receiver's file: one {auth, body} a POST.
func received(t *testing.T, out string) []map[string]string {
	f, err := os.Open(out)
	if err != nil {
		return nil
	}
	defer f.Close()
	var got []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m map[string]string
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			got = append(got, m)
		}
	}
	return got
}

// TestEventSinks: refusals reach a real rsyslogd as RFC 5424 OCSF events,
// an HTTP receiver process as ECS batches and as Splunk HEC envelopes,
// and a rotating file; the token comes from a secret and no credential
// the client sent appears anywhere.
func TestEventSinks(t *testing.T) {
	rs := testenv.StartRsyslog(t)
	dir := t.TempDir()
	hookOut, hecOut := filepath.Join(dir, "hook.jsonl"), filepath.Join(dir, "hec.jsonl")
	hook, hec := startReceiver(t, hookOut), startReceiver(t, hecOut)
	writeFile(t, filepath.Join(dir, "hec.token"), "hec-secret-token")
	up := startUpstream(t, "api")
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
events:
  sinks:
    - {type: jsonl, path: stderr}
    - {type: jsonl, path: events.jsonl, format: ecs, max_bytes: 2KiB, keep: 3}
    - {type: syslog, address: %q, format: ocsf}
    - {type: http, url: %q, format: ecs, batch_size: 5, flush_interval: 200ms}
    - {type: http, url: %q, flavor: splunk_hec, token: "file:hec.token", format: ocsf, flush_interval: 200ms}
store: {driver: embedded, path: data/rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  api: {targets: [{url: %s}]}
policies:
  keyed: {authenticate: [keys], authorize: {any_authenticated: true}}
routes:
  - {name: keyed, match: {paths: ["/v1/**"]}, upstream: api, policy: keyed}
`, rs.Addr, hook, hec+"/services/collector/event", up.url()))
	for i := range 12 {
		r := do(t, client, "GET", g.url(fmt.Sprintf("/v1/orders/%d", i)), nil, map[string]string{"X-API-Key": "rk_bogus_supersecretvalue"})
		if r.status != 401 {
			t.Fatalf("status %d", r.status)
		}
		if i == 5 {
			time.Sleep(300 * time.Millisecond) // the file is written in two flushes, so it rotates
		}
	}
	if r := get(t, g.url("/nowhere")); r.status != 404 {
		t.Fatalf("status %d", r.status)
	}

	waitFor(t, 10*time.Second, "13 events at every sink", func() bool {
		n := 0
		for _, b := range received(t, hookOut) {
			var batch []any
			_ = json.Unmarshal([]byte(b["body"]), &batch)
			n += len(batch)
		}
		m := 0
		for _, b := range received(t, hecOut) {
			m += len(strings.Split(strings.TrimSpace(b["body"]), "\n"))
		}
		return n >= 13 && m >= 13 && len(rs.Messages()) >= 13
	})

	// refusals by route, stage and reason: labels from the config and the
	// code only
	g.metricsHave(t, `rampart_refusals_total{reason="not_found",route="",stage="route"} 1`,
		`rampart_refusals_total{reason="invalid_credentials",route="keyed",stage="authenticate"} 12`)

	// syslog: OCSF Authentication events for the bad keys.
	auth := 0
	for _, m := range rs.Messages() {
		if strings.Contains(m, "secretvalue") {
			t.Errorf("a credential reached syslog: %s", m)
		}
		i := strings.Index(m, "{")
		var doc map[string]any
		if i < 0 || json.Unmarshal([]byte(m[i:]), &doc) != nil {
			t.Fatalf("not JSON: %s", m)
		}
		if doc["class_uid"] == 3002.0 {
			auth++
		}
	}
	if auth != 12 {
		t.Errorf("%d OCSF Authentication events, want 12", auth)
	}
	// webhook: ECS, batches of at most 5
	for _, b := range received(t, hookOut) {
		var batch []map[string]any
		if err := json.Unmarshal([]byte(b["body"]), &batch); err != nil || len(batch) > 5 || b["auth"] != "" {
			t.Fatalf("webhook batch: %v %v", err, b)
		}
		for _, e := range batch {
			if e["event"].(map[string]any)["dataset"] != "rampart.security" || e["@timestamp"] == nil {
				t.Errorf("not ECS: %v", e)
			}
		}
	}
	// Splunk HEC: the token from the file, one envelope a line.
	for _, b := range received(t, hecOut) {
		if b["auth"] != "Splunk hec-secret-token" {
			t.Errorf("HEC auth %q", b["auth"])
		}
		for _, line := range strings.Split(strings.TrimSpace(b["body"]), "\n") {
			var env map[string]any
			if json.Unmarshal([]byte(line), &env) != nil || env["sourcetype"] != "rampart:security" || env["event"].(map[string]any)["class_uid"] == nil {
				t.Errorf("HEC line: %s", line)
			}
		}
	}
	// the rotating file: rotated past 2 KiB, each file ECS lines
	waitFor(t, 5*time.Second, "rotation", func() bool {
		_, err := os.Stat(filepath.Join(dir, "events.jsonl.1"))
		return err == nil
	})
	for _, f := range []string{"events.jsonl", "events.jsonl.1"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line != "" && !strings.Contains(line, `"ecs":{"version"`) {
				t.Errorf("%s: %s", f, line)
			}
		}
	}
}

// TestDeadSinkDoesNotSlowRequests: with an HTTP receiver that accepts and
// never answers, and a syslog address nobody listens on, requests are as
// fast as without them, and the events that do not fit are dropped and
// counted.
func TestDeadSinkDoesNotSlowRequests(t *testing.T) {
	dir := t.TempDir()
	dead := startReceiver(t, filepath.Join(dir, "dead.jsonl"), "-hang")
	up := startUpstream(t, "api")
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
events:
  sinks:
    - {type: http, url: %q, batch_size: 1, timeout: 2s, retries: 1}
    - {type: syslog, address: "127.0.0.1:9", timeout: 1s}
upstreams:
  api: {targets: [{url: %s}]}
routes:
  - {name: api, match: {paths: ["/v1/**"]}, upstream: api, policy: public}
`, dead, up.url()))
	// Each request is a 404 (an event); the sinks' queues (4096) fill
	// while the dead receiver holds its POSTs for 2s each.
	start := time.Now()
	n := 5000
	for i := range n {
		if r := get(t, g.url(fmt.Sprintf("/nowhere/%d", i))); r.status != 404 {
			t.Fatalf("status %d", r.status)
		}
	}
	elapsed := time.Since(start)
	if per := elapsed / time.Duration(n); per > 20*time.Millisecond {
		t.Errorf("%v a request with dead sinks", per)
	}
	waitFor(t, 10*time.Second, "drops counted", func() bool {
		m := string(get(t, "http://"+g.admin+"/metrics").body)
		return strings.Contains(m, `rampart_events_dropped_total{sink="http[0]:`) && strings.Contains(m, `rampart_events_dropped_total{sink="syslog[1]:`)
	})
}
