package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
	"github.com/rampart-gw/rampart/test/ipfiltertest"
)

// TestAttackCorrelation: two gateways share a real Redis. Failed logins
// for several accounts from one address, spread over both nodes, are
// recognised as credential stuffing (an event that names the counts and
// thresholds) and become offences that block the address on both nodes;
// the same address failing with one account is not. A consumer probing
// order ids that do not exist is recognised as enumeration.
func TestAttackCorrelation(t *testing.T) {
	rs := testenv.StartRedis(t)
	orders := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/o-1") {
			_, _ = w.Write([]byte(`{"id":"o-1"}`))
			return
		}
		http.Error(w, `{"error":"no such order"}`, http.StatusNotFound)
	}))
	cfg := fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: "127.0.0.1:0"}
events: {sinks: [{type: jsonl, path: stderr}]}
state: {driver: redis, addrs: [%q], timeout: 500ms}
store: {driver: embedded, path: data/rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  orders: {targets: [{url: "http://%s"}]}
policies:
  api:
    authenticate: [keys]
    authorize: {any_authenticated: true}
    correlate:
      credential_stuffing: {window: 1m, failures: 6, distinct: 3}
      enumeration: {window: 1m, refusals: 6, distinct: 5}
    graduated: {key: ip, window: 1m, offences: [credential-stuffing, enumeration], block: 3}
routes:
  - {name: orders, match: {paths: ["/v1/orders/{id}"]}, upstream: orders, policy: api}
`, rs.Addr, orders)
	var nodes []*gw
	for range 2 {
		nodes = append(nodes, startGateway(t, cfg))
	}
	call := func(n int, ip, key, id string) response {
		return do(t, client, "GET", nodes[n%2].url("/v1/orders/"+id), nil, map[string]string{"X-Forwarded-For": ip, "X-API-Key": key})
	}
	bogus := func(i int) string { return fmt.Sprintf("rk_%016d_%052d", i, i) }
	// one account guessed from one address: failures, no stuffing
	for i := range 8 {
		if r := call(i, "198.51.100.7", bogus(1), "o-1"); r.status != 401 {
			t.Fatalf("one account, try %d: %d", i, r.status)
		}
	}
	// many accounts from one address, alternating nodes
	var statuses []int
	for i := range 12 {
		statuses = append(statuses, call(i, "203.0.113.66", bogus(10+i%4), "o-1").status)
	}
	want := []int{401, 401, 401, 401, 401, 401, 401, 401, 429, 429, 429, 429}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Fatalf("stuffing: %v, want %v (detected from the 6th failure, three offences block)", statuses, want)
	}
	for n := range nodes { // blocked on both nodes, not the other address
		if r := call(n, "203.0.113.66", bogus(99), "o-1"); r.status != 429 {
			t.Fatalf("node %d: %d", n, r.status)
		}
		if r := call(n, "198.51.100.7", bogus(1), "o-1"); r.status != 401 {
			t.Fatalf("the brute-forcing address on node %d: %d", n, r.status)
		}
	}
	// each node publishes the detection it made first: the 6th failure on
	// one, the 7th on the other
	var details []string
	waitFor(t, 5*time.Second, "attack.credential_stuffing events from both nodes", func() bool {
		details = nil
		for _, g := range nodes {
			for _, e := range g.events() {
				if e["type"] == "attack.credential_stuffing" && e["client_ip"] == "203.0.113.66" {
					details = append(details, e["detail"].(string))
				}
			}
		}
		return len(details) == 2
	})
	all := strings.Join(details, "\n")
	if !strings.Contains(all, "6 failed authentications for 4 distinct credentials from ip 203.0.113.66 in the last 1m0s (thresholds: 6 failures, 3 credentials)") ||
		!strings.Contains(all, "7 failed authentications") {
		t.Fatalf("stuffing events:\n%s", all)
	}

	// enumeration: a consumer walking order ids
	code, key, errs := nodes[0].cli("keys", "create", "--consumer", "prober")
	if code != 0 {
		t.Fatal(errs)
	}
	// each node has its own embedded store: the key is on node 0's
	waitFor(t, 5*time.Second, "the key on node 0", func() bool { return call(0, "192.0.2.40", key, "o-1").status == 200 })
	for i := range 7 {
		if r := call(0, "192.0.2.40", key, fmt.Sprintf("o-%d", 100+i)); r.status != 404 {
			t.Fatalf("probe %d: %d", i, r.status)
		}
	}
	var enum map[string]any
	waitFor(t, 5*time.Second, "an attack.enumeration event", func() bool {
		for _, e := range nodes[0].events() {
			if e["type"] == "attack.enumeration" {
				enum = e
				return true
			}
		}
		return false
	})
	if d := enum["detail"].(string); enum["consumer"] != "prober" || !strings.Contains(d, "over 6 distinct object ids for consumer prober") || !strings.Contains(d, "/v1/orders/{id}") {
		t.Fatalf("enumeration event %v", enum)
	}
	nodes[0].metricsHave(t, `rampart_correlation_total{detector="enumeration",outcome="detected",policy="api"}`)
}

// TestStuffingByASN: credential stuffing spread over the addresses of one
// hosting network is counted by its autonomous system, from a generated
// GeoLite2-ASN database; the graduated response blocks each address
// that goes on, and an address of another network is not counted with
// them.
func TestStuffingByASN(t *testing.T) {
	up := startUpstream(t, "app")
	dir := t.TempDir()
	if err := ipfiltertest.WriteASNDB(filepath.Join(dir, "asn.mmdb"), map[string]ipfiltertest.AS{
		"203.0.113.0/24": {Number: 64500, Org: "Bulletproof Hosting"}, "198.51.100.0/24": {Number: 64501, Org: "Home ISP"}}); err != nil {
		t.Fatal(err)
	}
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: "127.0.0.1:0"}
events: {sinks: [{type: jsonl, path: stderr}]}
geoip: {asn_database: asn.mmdb}
store: {driver: embedded, path: data/rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  app: {targets: [{url: %s}]}
policies:
  api:
    authenticate: [keys]
    authorize: {any_authenticated: true}
    correlate:
      credential_stuffing: {key: asn, window: 1m, failures: 6, distinct: 6}
    graduated: {key: ip, window: 1m, offences: [credential-stuffing], block: 1}
routes:
  - {name: app, match: {paths: ["/**"]}, upstream: app, policy: api}
`, up.url()))
	call := func(ip string, i int) int {
		return do(t, client, "GET", g.url("/x"), nil, map[string]string{"X-Forwarded-For": ip, "X-API-Key": fmt.Sprintf("rk_%016d_%052d", i, i)}).status
	}
	var statuses []int
	for i := range 6 { // six addresses of AS64500, one try each
		statuses = append(statuses, call(fmt.Sprintf("203.0.113.%d", 10+i), i))
	}
	if fmt.Sprint(statuses) != "[401 401 401 401 401 401]" {
		t.Fatalf("stuffing over one AS: %v", statuses)
	}
	if s := call("203.0.113.15", 99); s != 429 {
		t.Fatalf("the address whose failure crossed the threshold, again: %d, want blocked", s)
	}
	if s := call("198.51.100.9", 100); s != 401 {
		t.Fatalf("an address of another AS: %d", s)
	}
	waitFor(t, 5*time.Second, "an attack.credential_stuffing event", func() bool {
		for _, e := range g.events() {
			if e["type"] == "attack.credential_stuffing" {
				d := e["detail"].(string)
				if !strings.Contains(d, "6 failed authentications for 6 distinct credentials from asn AS64500 (Bulletproof Hosting)") {
					t.Fatalf("event detail: %s", d)
				}
				return true
			}
		}
		return false
	})
}

// TestRouteBaselines: a route's usual error rate is learnt from its
// traffic; when its upstream starts failing, the gateway reports a
// route.error_rate_spike event that gives the rate and the baseline.
func TestRouteBaselines(t *testing.T) {
	var failing atomic.Bool
	up := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	g := startGateway(t, fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: "127.0.0.1:0"}
events: {sinks: [{type: jsonl, path: stderr}]}
baselines: {interval: 1s, min_requests: 5}
upstreams:
  app: {targets: [{url: "http://%s"}]}
routes:
  - {name: app, match: {paths: ["/**"]}, upstream: app, policy: public}
`, up))
	spike := func() map[string]any {
		for _, e := range g.events() {
			if e["type"] == "route.error_rate_spike" {
				return e
			}
		}
		return nil
	}
	deadline := time.Now().Add(13 * time.Second) // the baseline learns for 10 intervals
	for time.Now().Before(deadline) {
		get(t, g.url("/x"))
		time.Sleep(20 * time.Millisecond)
	}
	if e := spike(); e != nil {
		t.Fatalf("a spike while nothing changed: %v", e)
	}
	failing.Store(true)
	var e map[string]any
	waitFor(t, 5*time.Second, "a route.error_rate_spike event", func() bool {
		get(t, g.url("/x"))
		time.Sleep(10 * time.Millisecond)
		e = spike()
		return e != nil
	})
	if d := e["detail"].(string); e["route"] != "app" || !regexp.MustCompile(`^Route app: error rate [0-9.]+% in the last 1s \(\d+ requests\) against a baseline of 0\.0% ± 0\.0% \(the last hour\)\.$`).MatchString(d) {
		t.Fatalf("event %v", e)
	}
}
