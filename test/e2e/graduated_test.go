package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestGraduatedResponse drives one client IP up the levels of a login
// policy's graduated response (warn, throttle, block, ban), then lists
// and lifts the ban with `rampart bans`, and bans again for longer. With
// state in Redis the client alternates between two nodes, which share
// the offences and the ban.
func TestGraduatedResponse(t *testing.T) {
	rs := testenv.StartRedis(t)
	up := startUpstream(t, "orders")
	for _, tc := range []struct {
		name  string
		state string
		nodes int
	}{
		{"memory", "{driver: memory}", 1},
		{"redis", fmt.Sprintf("{driver: redis, addrs: [%q]}", rs.Addr), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: "127.0.0.1:0"}
state: %s
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  login:
    authenticate: []
    rate_limits: [{key: ip, rate: 1/m, burst: 2, name: login-ip}]
    graduated:
      key: ip
      offences: [rate-limited]
      window: 1m
      warn: 1
      throttle: {after: 3, delay: 300ms}
      block: 5
      ban: {after: 7, periods: [3s, 6s]}
routes:
  - {name: login, match: {paths: ["/login"]}, upstream: echo, policy: login}
`, tc.state, up.url())
			var nodes []*gw
			for range tc.nodes {
				nodes = append(nodes, startGateway(t, cfg))
			}
			n := 0
			send := func(ip string) (response, time.Duration) {
				g := nodes[n%len(nodes)]
				n++
				start := time.Now()
				r := do(t, client, "POST", g.url("/login"), nil, map[string]string{"X-Forwarded-For": ip})
				return r, time.Since(start)
			}
			const abuser, other = "203.0.113.7", "198.51.100.9"
			type step struct {
				status    int
				problem   string // slug
				warned    bool
				throttled bool
			}
			climb := []step{
				{status: 200}, {status: 200}, // the burst
				{status: 429, problem: "rate-limited"},                                // offence 1
				{status: 429, problem: "rate-limited", warned: true},                  // 2
				{status: 429, problem: "rate-limited", warned: true},                  // 3
				{status: 429, problem: "rate-limited", warned: true, throttled: true}, // 4
				{status: 429, problem: "rate-limited", warned: true, throttled: true}, // 5
				{status: 429, problem: "blocked"},                                     // 6
				{status: 429, problem: "blocked"},                                     // 7: banned
				{status: 403, problem: "banned"},
			}
			check := func(i int, s step, r response, took time.Duration) {
				t.Helper()
				if r.status != s.status {
					t.Fatalf("request %d: %d, want %d: %s", i, r.status, s.status, r.body)
				}
				if s.problem != "" {
					if p := problemOf(t, r, s.status); p["type"] != "tag:rampart-gw.github.io,2026:problems/"+s.problem {
						t.Fatalf("request %d: %v, want %s", i, p["type"], s.problem)
					}
				}
				if got := r.header.Get("Rampart-Warning") != ""; got != s.warned {
					t.Fatalf("request %d: Rampart-Warning %q, want one: %v", i, r.header.Get("Rampart-Warning"), s.warned)
				}
				if s.throttled && took < 300*time.Millisecond {
					t.Fatalf("request %d: answered in %v, want a 300ms throttle", i, took)
				}
			}
			for i, s := range climb {
				r, took := send(abuser)
				check(i, s, r, took)
				if s.problem == "banned" && r.header.Get("Retry-After") != "3" {
					t.Fatalf("first ban: Retry-After %q, want 3", r.header.Get("Retry-After"))
				}
			}
			// Another client is untouched.
			if r, _ := send(other); r.status != 200 {
				t.Fatalf("another client: %d %s", r.status, r.body)
			}

			// The ban is listed by the admin API and by `rampart bans`, on
			// the node that did not ban (Redis) or the one there is.
			g := nodes[len(nodes)-1]
			var list struct {
				Bans []struct{ ID, Policy, Subject string }
			}
			if err := json.Unmarshal(get(t, "http://"+g.admin+"/bans").body, &list); err != nil || len(list.Bans) != 1 ||
				list.Bans[0].Subject != "ip="+abuser || list.Bans[0].Policy != "login" {
				t.Fatalf("GET /bans: %+v %v", list, err)
			}
			id := list.Bans[0].ID
			admin := "--admin=http://" + g.admin
			if code, out, errs := g.cli("bans", "list", admin); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "ip="+abuser) {
				t.Fatalf("rampart bans list: %d %q %s", code, out, errs)
			}
			if code, out, errs := g.cli("bans", "lift", id, admin); code != 0 || !strings.Contains(out, "lifted") {
				t.Fatalf("rampart bans lift: %d %q %s", code, out, errs)
			}
			if code, _, errs := g.cli("bans", "lift", id, admin); code != 1 || !strings.Contains(errs, "No key with this id is banned") {
				t.Fatalf("lifting again: %d %s", code, errs)
			}

			// Lifted: the slate is clean (no warning) but the limit still
			// refuses; a second climb brings a second, longer ban.
			again := climb[2:]
			for i, s := range again {
				r, took := send(abuser)
				check(len(climb)+i, s, r, took)
				if s.problem == "banned" && r.header.Get("Retry-After") != "6" {
					t.Fatalf("second ban: Retry-After %q, want 6", r.header.Get("Retry-After"))
				}
			}

			// Events reach their sink asynchronously.
			wanted := []string{"abuse.warn/repeated_offences", "abuse.throttle/repeated_offences", "abuse.ban/repeated_offences",
				"request.refused/blocked", "request.refused/banned"}
			waitFor(t, 5*time.Second, fmt.Sprint("events ", wanted), func() bool {
				seen := map[string]bool{}
				for _, g := range nodes {
					for _, e := range g.events() {
						if e["client_ip"] == abuser {
							seen[fmt.Sprint(e["type"], "/", e["reason"])] = true
						}
					}
				}
				for _, w := range wanted {
					if !seen[w] {
						return false
					}
				}
				return true
			})
			nodes[0].metricsHave(t, `rampart_abuse_total{outcome="banned",policy="login"}`)
		})
	}
}
