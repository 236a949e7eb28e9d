package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/bots"
)

const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"

// TestBotDefence drives a TLS gateway with bot rules from real TLS
// clients: the JA4 of the ClientHello is computed, a script claiming to
// be Chrome is challenged (an HTML proof-of-work page for a browser's
// Accept, a problem otherwise), solving the work earns a pass cookie
// bound to the client, a solution cannot be replayed, a consistent
// browser and a good bot from its address range go through, and a
// scripted client is blocked.
func TestBotDefence(t *testing.T) {
	up := startUpstream(t, "web")
	dir := t.TempDir()
	p := newPKI(t, dir)
	t.Setenv("RAMPART_TEST_CHALLENGE_SECRET", strings.Repeat("k", 32))
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: server.pem, key_file: server.key}]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: 127.0.0.1:0}
upstreams:
  web: {targets: [{url: %s}]}
policies:
  site:
    authenticate: []
    bots:
      good_bots: [{name: uptime-monitor, user_agent: "UptimeBot", cidrs: [192.0.2.0/24]}]
      rules:
        - {name: ja4-shape, action: block, when: 'request.path == "/ja4" && client.ja4.matches("^t13d[0-9]{4}h2_[0-9a-f]{12}_[0-9a-f]{12}$")'}
        - {name: self-declared-bot, action: block, when: 'client.ua_family == "bot"'}
        - {name: python, action: block, when: 'client.ua_family == "python"'}
        - {name: curl, action: flag, when: 'client.ua_family == "curl"'}
        - {name: fake-browser, action: challenge, when: 'client.browser_claimed && size(client.inconsistencies) > 0'}
      challenge: {secret: env:RAMPART_TEST_CHALLENGE_SECRET, difficulty: 12, ttl: 10m}
routes:
  - {name: site, match: {paths: ["/**"]}, upstream: web, policy: site}
`, up.url()))
	tr := &http.Transport{TLSClientConfig: p.clientTLS(), ForceAttemptHTTP2: true}
	c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	send := func(path string, hdr map[string]string) response {
		t.Helper()
		return do(t, c, "GET", "https://"+g.https+path, nil, hdr)
	}
	browserish := map[string]string{"User-Agent": chromeUA, "Accept": "text/html,application/xhtml+xml"}

	// The Go client's ClientHello, fingerprinted: TLS 1.3, SNI, h2 first.
	if r := send("/ja4", nil); r.status != 403 {
		t.Fatalf("/ja4: %d: the JA4 should have matched t13d....h2_..._...: %s", r.status, r.body)
	}

	// A script with Chrome's User-Agent but none of Chrome's headers.
	r := send("/page", browserish)
	if r.status != 403 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'sha256-") {
		t.Fatalf("challenge page: %d %v", r.status, r.header)
	}
	m := regexp.MustCompile(`data-seed="([^"]+)" data-bits="12"`).FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("no seed in the page: %s", r.body)
	}
	seed := string(m[1])
	// Not a browser: a problem, not a page.
	api := send("/page", map[string]string{"User-Agent": chromeUA, "Accept": "application/json"})
	if p := problemOf(t, api, 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/challenge-required" {
		t.Fatalf("non-HTML client: %v", p)
	}

	// Wrong work is refused (the page again); the right work earns a pass.
	solution := seed + ":" + bots.Solve(seed, 12)
	if r := send("/page", with(browserish, "Cookie", bots.SolutionCookie+"="+seed+":x")); r.status != 403 {
		t.Fatalf("a wrong solution: %d", r.status)
	}
	r = send("/page", with(browserish, "Cookie", bots.SolutionCookie+"="+solution))
	if r.status != 200 {
		t.Fatalf("a solved challenge: %d %s", r.status, r.body)
	}
	var pass string
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == bots.PassCookie {
			pass = ck.Value
			if !ck.HttpOnly || !ck.Secure || ck.MaxAge != 600 {
				t.Fatalf("pass cookie: %+v", ck)
			}
		}
	}
	if pass == "" {
		t.Fatalf("no pass cookie: %v", r.header)
	}
	if r := send("/other", with(browserish, "Cookie", bots.PassCookie+"="+pass)); r.status != 200 {
		t.Fatalf("with the pass: %d", r.status)
	}
	// The same solution again: spent.
	if r := send("/page", with(browserish, "Cookie", bots.SolutionCookie+"="+solution)); r.status != 403 {
		t.Fatalf("a replayed solution: %d", r.status)
	}
	// The pass from another address: worthless.
	if r := send("/page", with(with(browserish, "Cookie", bots.PassCookie+"="+pass), "X-Forwarded-For", "203.0.113.9")); r.status != 403 {
		t.Fatalf("a pass used from another address: %d", r.status)
	}

	// A browser that looks like one is not challenged.
	real := map[string]string{"User-Agent": chromeUA, "Accept": "text/html", "Accept-Language": "en-GB,en", "Sec-Fetch-Mode": "navigate",
		"Sec-Ch-Ua": `"Chromium";v="143", "Google Chrome";v="143"`}
	if r := send("/page", real); r.status != 200 {
		t.Fatalf("a consistent browser: %d %s", r.status, r.body)
	}
	// Scripted clients and self-declared bots are blocked, unless allowed.
	if p := problemOf(t, send("/page", map[string]string{"User-Agent": "python-requests/2.32.3"}), 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/bot-blocked" ||
		!strings.Contains(p["detail"].(string), "python") {
		t.Fatalf("python: %v", p)
	}
	if r := send("/page", map[string]string{"User-Agent": "UptimeBot/1.0", "X-Forwarded-For": "198.51.100.1"}); r.status != 403 {
		t.Fatalf("a monitor outside its range: %d", r.status)
	}
	if r := send("/page", map[string]string{"User-Agent": "UptimeBot/1.0", "X-Forwarded-For": "192.0.2.10"}); r.status != 200 {
		t.Fatalf("a monitor from its range: %d %s", r.status, r.body)
	}
	if r := send("/page", map[string]string{"User-Agent": "curl/8.5.0"}); r.status != 200 {
		t.Fatalf("curl is only flagged: %d", r.status)
	}
	// Over cleartext the JA4 is empty and fewer headers are expected.
	if r := do(t, client, "GET", g.url("/ja4"), nil, nil); r.status != 200 {
		t.Fatalf("cleartext /ja4: %d", r.status)
	}
	tr.CloseIdleConnections()

	g.metricsHave(t, `rampart_bots_total{outcome="solved",policy="site",rule="fake-browser"}`,
		`rampart_bots_total{outcome="good_bot",policy="site",rule="uptime-monitor"}`,
		`rampart_bots_total{outcome="flagged",policy="site",rule="curl"}`)
	// Events reach their sink asynchronously.
	waitFor(t, 5*time.Second, "bot events", func() bool {
		types := map[string]bool{}
		for _, e := range g.events() {
			types[fmt.Sprint(e["type"])] = true
		}
		return types["bot.flag"] && types["bot.challenge"] && types["bot.challenge_solved"] && types["request.refused"]
	})
}

// with returns a copy of h with k set to v.
func with(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for hk, hv := range h {
		if hk != k {
			out[hk] = hv
		}
	}
	return out
}

// TestRateAnomaly: among a dozen addresses calling a few times a second,
// one calling as fast as it can is flagged as anomalous, and the
// graduated response counting rate-anomaly offences bans it; the others
// are never refused.
func TestRateAnomaly(t *testing.T) {
	up := startUpstream(t, "web")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: 127.0.0.1:0}
upstreams:
  web: {targets: [{url: %s}]}
policies:
  site:
    authenticate: []
    bots:
      anomaly: {factor: 5, min_rate: 5/s}
    graduated: {offences: [rate-anomaly], window: 1m, ban: {after: 30, periods: [1m]}}
routes:
  - {name: site, match: {paths: ["/**"]}, upstream: web, policy: site}
`, up.url()))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var refusedNormal atomic.Int64
	for i := range 12 {
		wg.Go(func() {
			ip := fmt.Sprintf("198.51.100.%d", i+1)
			for {
				select {
				case <-stop:
					return
				case <-time.After(300 * time.Millisecond):
				}
				if r := do(t, client, "GET", g.url("/"), nil, map[string]string{"X-Forwarded-For": ip}); r.status != 200 {
					refusedNormal.Add(1)
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond) // a crowd to compare with
	var banned bool
	deadline := time.Now().Add(8 * time.Second)
	for !banned && time.Now().Before(deadline) {
		r := do(t, client, "GET", g.url("/"), nil, map[string]string{"X-Forwarded-For": "203.0.113.66"})
		banned = r.status == 403
	}
	close(stop)
	wg.Wait()
	if !banned {
		t.Fatal("the fast address was not banned within 8s")
	}
	if n := refusedNormal.Load(); n > 0 {
		t.Fatalf("%d requests of ordinary addresses were refused", n)
	}
	waitFor(t, 5*time.Second, "a bot.anomaly event for the fast address", func() bool {
		for _, e := range g.events() {
			if e["type"] == "bot.anomaly" && e["client_ip"] == "203.0.113.66" {
				return true
			}
		}
		return false
	})
	for _, e := range g.events() {
		if e["type"] == "bot.anomaly" && e["client_ip"] != "203.0.113.66" {
			t.Fatalf("an ordinary address flagged: %v", e)
		}
	}
	g.metricsHave(t, `rampart_bots_total{outcome="flagged",policy="site",rule="anomaly"}`, `rampart_abuse_total{outcome="banned",policy="site"}`)
}
