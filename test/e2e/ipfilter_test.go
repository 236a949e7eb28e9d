package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/test/ipfiltertest"
)

// writeGeoDB writes a country database (ipfiltertest.WriteGeoDB).
func writeGeoDB(t *testing.T, path string, countries map[string]string) {
	t.Helper()
	if err := ipfiltertest.WriteGeoDB(path, countries); err != nil {
		t.Fatal(err)
	}
}

// TestIPAndGeo: address allow and deny lists, and country rules from a
// generated MaxMind database, applied to the address derived through a
// trusted proxy; a new database edition is picked up on reload.
func TestIPAndGeo(t *testing.T) {
	up := startUpstream(t, "app")
	dir := t.TempDir()
	db := filepath.Join(dir, "countries.mmdb")
	writeGeoDB(t, db, map[string]string{"198.51.100.0/24": "FR", "203.0.113.0/24": "US"})
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: "127.0.0.1:0"}
geoip: {database: countries.mmdb}
upstreams:
  app: {targets: [{url: %s}]}
policies:
  office: {authenticate: [], ip: {allow: [10.0.0.0/8, 192.0.2.0/24], deny: [10.6.6.0/24]}}
  eu: {authenticate: [], geo: {allow: [FR, DE]}}
  world: {authenticate: [], geo: {deny: [US]}}
routes:
  - {name: office, match: {paths: ["/office"]}, upstream: app, policy: office}
  - {name: eu, match: {paths: ["/eu"]}, upstream: app, policy: eu}
  - {name: world, match: {paths: ["/world"]}, upstream: app, policy: world}
`, up.url()))
	from := func(path, ip string) response {
		return do(t, client, "GET", g.url(path), nil, map[string]string{"X-Forwarded-For": ip})
	}
	for _, tc := range []struct {
		path, ip string
		status   int
		detail   string
	}{
		{"/office", "10.1.2.3", 200, ""},
		{"/office", "192.0.2.7", 200, ""},
		{"/office", "10.6.6.6", 403, "this address"},
		{"/office", "198.51.100.1", 403, "this address"},
		{"/eu", "198.51.100.1", 200, ""},
		{"/eu", "203.0.113.5", 403, "Requests from US"},
		{"/eu", "192.0.2.200", 403, "an unknown location"},
		{"/world", "192.0.2.200", 200, ""},
		{"/world", "198.51.100.1", 200, ""},
		{"/world", "203.0.113.5", 403, "Requests from US"},
	} {
		r := from(tc.path, tc.ip)
		if tc.status == 200 {
			if r.status != 200 {
				t.Errorf("%s from %s: %d %s", tc.path, tc.ip, r.status, r.body)
			}
			continue
		}
		if p := problemOf(t, r, 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/address-denied" || !strings.Contains(p["detail"].(string), tc.detail) {
			t.Errorf("%s from %s: %v", tc.path, tc.ip, p)
		}
	}

	// A new edition moves the French range to the US; a reload reopens it.
	writeGeoDB(t, db, map[string]string{"198.51.100.0/24": "US"})
	g.signal(t, syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the new database", func() bool { return from("/eu", "198.51.100.1").status == 403 })
}
