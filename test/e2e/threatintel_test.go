package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/fingerprint"
)

// feedPublisher serves a threat feed over HTTPS as publishers do: with
// an ETag, 304 to a matching If-None-Match, and the bearer token it was
// given required.
type feedPublisher struct {
	mu               sync.Mutex
	body, etag       string
	status           int
	full, notChanged int
}

func (p *feedPublisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer feed-token" {
		http.Error(w, "no token", http.StatusUnauthorized)
		return
	}
	if p.status != 0 {
		http.Error(w, "maintenance", p.status)
		return
	}
	if r.Header.Get("If-None-Match") == p.etag {
		p.notChanged++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	p.full++
	w.Header().Set("ETag", p.etag)
	_, _ = w.Write([]byte(p.body))
}

func (p *feedPublisher) publish(body, etag string, status int) {
	p.mu.Lock()
	p.body, p.etag, p.status = body, etag, status
	p.mu.Unlock()
}

func (p *feedPublisher) counts() (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.full, p.notChanged
}

// dropJSON is a Spamhaus DROP list in its JSON-lines format.
func dropJSON(cidrs ...string) string {
	var b strings.Builder
	for i, c := range cidrs {
		fmt.Fprintf(&b, `{"cidr":%q,"sblid":"SBL%d","rir":"ripencc"}`+"\n", c, 100+i)
	}
	fmt.Fprintf(&b, `{"type":"metadata","timestamp":1764590400,"size":%d,"records":%d,"copyright":"(c) 2026 The Spamhaus Project SLU","terms":"https://www.spamhaus.org/drop/terms/"}`+"\n", b.Len(), len(cidrs))
	return b.String()
}

// TestThreatIntel: feeds from an HTTPS publisher (Spamhaus DROP JSON,
// bearer token, ETag revalidation), a FireHOL netset file and a JA4
// file drive block, challenge and flag rules through the binary; a new
// version is picked up, a broken or failing one leaves the last good
// list in force with a feed_failed event, and flagged clients become
// graduated-response offences.
func TestThreatIntel(t *testing.T) {
	up := startUpstream(t, "app")
	dir := t.TempDir()
	p := newPKI(t, dir)
	p.issue(t, "localhost", filepath.Join(dir, "feeds.pem"), filepath.Join(dir, "feeds.key"), 0)
	pub := &feedPublisher{}
	pub.publish(dropJSON("203.0.113.0/24", "2001:db8:bad::/48"), `"v1"`, 0)
	feeds := httptest.NewUnstartedServer(pub)
	crt, err := tls.LoadX509KeyPair(filepath.Join(dir, "feeds.pem"), filepath.Join(dir, "feeds.key"))
	if err != nil {
		t.Fatal(err)
	}
	feeds.TLS = &tls.Config{Certificates: []tls.Certificate{crt}}
	feeds.StartTLS()
	defer feeds.Close()
	writeFile(t, filepath.Join(dir, "local.netset"), "#\n# local abusers, FireHOL netset\n#\n192.0.2.0/25\n")
	writeFile(t, filepath.Join(dir, "ja4.txt"), "# scanners' TLS fingerprints\n")
	t.Setenv("RAMPART_TEST_FEED_TOKEN", "Bearer feed-token")
	t.Setenv("RAMPART_TEST_CHALLENGE_SECRET", strings.Repeat("c", 32))
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  tls:
    listen: ["127.0.0.1:0"]
    certificates: [{cert_file: server.pem, key_file: server.key}]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: 127.0.0.1:0}
events: {sinks: [{type: jsonl, path: stderr}]}
threat_intel:
  feeds:
    drop:
      url: %s/drop_v4.json
      format: spamhaus_drop
      ca_file: ca.pem
      headers: {Authorization: env:RAMPART_TEST_FEED_TOKEN}
    local: {file: local.netset, format: netset, refresh: 1s, exclude: [192.0.2.64/27]}
    scanners: {file: ja4.txt, format: ja4, refresh: 1s}
upstreams:
  app: {targets: [{url: %s}]}
policies:
  api:
    authenticate: []
    threat_intel:
      - {feeds: [drop, local], action: block}
      - {feeds: [scanners], action: block}
  site:
    authenticate: []
    threat_intel: [{feeds: [drop], action: challenge}]
    bots: {challenge: {secret: env:RAMPART_TEST_CHALLENGE_SECRET, difficulty: 8}}
  watch:
    authenticate: []
    threat_intel: [{feeds: [local], action: flag}]
    graduated: {offences: [threat-listed], block: 3}
routes:
  - {name: api, match: {paths: ["/api/**"]}, upstream: app, policy: api}
  - {name: site, match: {paths: ["/site/**"]}, upstream: app, policy: site}
  - {name: watch, match: {paths: ["/watch/**"]}, upstream: app, policy: watch}
`, feeds.URL, up.url()))
	from := func(path, ip string, hdr map[string]string) response {
		t.Helper()
		h := map[string]string{"X-Forwarded-For": ip}
		for k, v := range hdr {
			h[k] = v
		}
		return do(t, client, "GET", g.url(path), nil, h)
	}
	listed := func(path, ip string) {
		t.Helper()
		r := from(path, ip, nil)
		if p := problemOf(t, r, 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/threat-listed" || !strings.Contains(p["detail"].(string), "threat-intelligence list") {
			t.Fatalf("%s from %s: %v", path, ip, p)
		}
	}
	passes := func(path, ip string) {
		t.Helper()
		if r := from(path, ip, nil); r.status != 200 {
			t.Fatalf("%s from %s: %d %s", path, ip, r.status, r.body)
		}
	}

	// the downloaded list and the file, loaded before the gateway was ready
	listed("/api/x", "203.0.113.9")
	listed("/api/x", "2001:db8:bad:1::7")
	listed("/api/x", "192.0.2.100")
	passes("/api/x", "192.0.2.70") // excluded from the feed
	passes("/api/x", "192.0.2.200")
	passes("/api/x", "198.51.100.1")
	var list struct{ Feeds []map[string]any }
	admin := func(method, path string) response { return do(t, client, method, "http://"+g.admin+path, nil, nil) }
	if err := json.Unmarshal(admin("GET", "/threat-intel/feeds").body, &list); err != nil || len(list.Feeds) != 3 {
		t.Fatalf("feeds: %v %v", err, list)
	}
	if f := list.Feeds[0]; f["name"] != "drop" || f["entries"] != 2.0 || f["format"] != "spamhaus_drop" || f["error"] != nil {
		t.Fatalf("drop feed status %v", f)
	}

	// a new version, asked for through the admin API: revalidated with
	// the ETag, downloaded when it changed
	var st map[string]any
	_ = json.Unmarshal(admin("POST", "/threat-intel/feeds/drop/refresh").body, &st)
	if full, nc := pub.counts(); full != 1 || nc != 1 || st["entries"] != 2.0 {
		t.Fatalf("revalidation: %d full, %d not modified, status %v", full, nc, st)
	}
	pub.publish(dropJSON("203.0.113.0/24", "2001:db8:bad::/48", "198.51.100.0/24"), `"v2"`, 0)
	_ = json.Unmarshal(admin("POST", "/threat-intel/feeds/drop/refresh").body, &st)
	if st["entries"] != 3.0 {
		t.Fatalf("new version: %v", st)
	}
	listed("/api/x", "198.51.100.1")

	// a publisher in maintenance, then a truncated download: refused
	// whole, the last good list stays in force
	for _, bad := range []struct {
		body   string
		status int
		want   string
	}{
		{"", 503, "503"},
		{`{"cidr":"203.0.113.0/24","sblid":"SBL1"}` + "\n" + `{"cidr":"198.51.1`, 0, "line 2"},
	} {
		pub.publish(bad.body, `"v3"`, bad.status)
		_ = json.Unmarshal(admin("POST", "/threat-intel/feeds/drop/refresh").body, &st)
		if !strings.Contains(fmt.Sprint(st["error"]), bad.want) || st["entries"] != 3.0 {
			t.Fatalf("bad version: %v", st)
		}
		listed("/api/x", "198.51.100.1")
		passes("/api/x", "198.51.101.1")
	}
	waitFor(t, 5*time.Second, "feed_failed events", func() bool {
		n := 0
		for _, e := range g.events() {
			if e["type"] == "threat_intel.feed_failed" && e["rule"] == "drop" {
				n++
			}
		}
		return n == 2
	})
	g.metricsHave(t, `rampart_threat_feed_entries{feed="drop"} 3`, `rampart_threat_feed_refreshes_total{feed="drop",result="failed"} 2`,
		`rampart_threat_feed_refreshes_total{feed="drop",result="unchanged"} 1`, `rampart_threat_intel_total{feed="drop",outcome="blocked",policy="api"}`)
	if strings.Contains(g.stderr.String(), "feed-token") {
		t.Error("the feed's token reached the logs")
	}

	// the file feed is read again when it changes
	writeFile(t, filepath.Join(dir, "local.netset"), "# local abusers\n192.0.2.0/25\n192.0.2.200\n")
	waitFor(t, 10*time.Second, "the changed file in force", func() bool { return from("/api/x", "192.0.2.200", nil).status == 403 })

	// challenge: a browser gets the page, a script the problem
	if r := from("/site/", "203.0.113.9", map[string]string{"Accept": "text/html"}); r.status != 403 || !strings.Contains(string(r.body), "data-seed=") {
		t.Fatalf("challenge page: %d %s", r.status, r.body)
	}
	if pr := problemOf(t, from("/site/", "203.0.113.9", nil), 403); pr["type"] != "tag:rampart-gw.github.io,2026:problems/challenge-required" {
		t.Fatalf("challenge for a script: %v", pr)
	}
	passes("/site/", "198.51.101.1")

	// flag: the request goes on, a threat.listed event, and the offences
	// add up to a block
	for range 3 {
		passes("/watch/", "192.0.2.5")
	}
	if pr := problemOf(t, from("/watch/", "192.0.2.5", nil), 429); pr["type"] != "tag:rampart-gw.github.io,2026:problems/blocked" {
		t.Fatalf("after three flagged requests: %v", pr)
	}
	passes("/watch/", "192.0.2.201")
	waitFor(t, 5*time.Second, "threat.listed events", func() bool {
		for _, e := range g.events() {
			if e["type"] == "threat.listed" && e["rule"] == "local" && e["client_ip"] == "192.0.2.5" {
				return true
			}
		}
		return false
	})

	// JA4: the fingerprint of this client's ClientHello, listed, is
	// refused over TLS; another client's is not
	tr := &http.Transport{TLSClientConfig: p.clientTLS(), ForceAttemptHTTP2: true}
	c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	if r := do(t, c, "GET", "https://"+g.https+"/api/x", nil, nil); r.status != 200 {
		t.Fatalf("TLS before listing: %d", r.status)
	}
	writeFile(t, filepath.Join(dir, "ja4.txt"), "# scanners\n"+ja4Of(t, p.clientTLS(), true)+"\n")
	waitFor(t, 10*time.Second, "the JA4 listed", func() bool {
		tr.CloseIdleConnections()
		return do(t, c, "GET", "https://"+g.https+"/api/x", nil, nil).status == 403
	})
	other := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: p.clientTLS()}} // HTTP/1.1 only: another ALPN, another JA4
	if r := do(t, other, "GET", "https://"+g.https+"/api/x", nil, nil); r.status != 200 {
		t.Fatalf("another fingerprint: %d %s", r.status, r.body)
	}
}

// ja4Of returns the JA4 of the ClientHello a Go client with cfg sends,
// read by a TLS server of the test's own.
func ja4Of(t *testing.T, cfg *tls.Config, h2 bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		srv := tls.Server(conn, &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			got <- fingerprint.JA4(h)
			return nil, fmt.Errorf("fingerprinted")
		}})
		_ = srv.Handshake()
	}()
	c := cfg.Clone()
	if h2 {
		c.NextProtos = []string{"h2", "http/1.1"}
	} else {
		c.NextProtos = []string{"http/1.1"}
	}
	conn, err := tls.Dial("tcp", l.Addr().String(), c)
	if err == nil {
		conn.Close()
	}
	select {
	case fp := <-got:
		return fp
	case <-time.After(5 * time.Second):
		t.Fatal("no ClientHello")
		return ""
	}
}
