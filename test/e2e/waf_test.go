package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWAF: the OWASP Core Rule Set at paranoia 1 blocks a table of
// attacks in the query and in JSON bodies, passes their benign twins (a
// JSON API's usual content), only reports in detect mode, and says in
// the event which rules matched without putting rule text in the
// problem.
func TestWAF(t *testing.T) {
	up := startUpstream(t, "app")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  app: {targets: [{url: %s}]}
policies:
  guarded: {authenticate: [], waf: {paranoia: 1, mode: block, log_file: waf.log}}
  watched: {authenticate: [], waf: {paranoia: 1, mode: detect, log_file: watched.log}}
  tuned:
    authenticate: []
    waf:
      paranoia: 1
      # libinjection reads "3 < 5 and 7 > 2" as SQL: a known false positive, excluded for q only
      exclusions: [{rule: 942100, target: "ARGS:q"}]
routes:
  - {name: api, match: {paths: ["/api/**"]}, upstream: app, policy: guarded}
  - {name: beta, match: {paths: ["/beta/**"]}, upstream: app, policy: watched}
  - {name: tuned, match: {paths: ["/tuned/**"]}, upstream: app, policy: tuned}
`, up.url()))
	hdr := map[string]string{"User-Agent": "rampart-e2e/1.0", "Accept": "application/json"}
	query := func(prefix, k, v string) response {
		return do(t, client, "GET", g.url(prefix+"/search?"+k+"="+url.QueryEscape(v)), nil, hdr)
	}
	postJSON := func(body string) response {
		return do(t, client, "POST", g.url("/api/orders"), strings.NewReader(body), with(hdr, "Content-Type", "application/json"))
	}
	for _, tc := range []struct{ name, attack, twin string }{
		{"SQL injection", "1' OR '1'='1' --", "O'Brien"},
		{"UNION select", "1 UNION SELECT username, password FROM users", "select a size from the list"},
		{"XSS", "<script>alert(document.cookie)</script>", "tags like <b> and <i>"},
		{"path traversal", "../../../../etc/passwd", "reports/2026/q3.pdf"},
		{"command injection", "127.0.0.1; cat /etc/passwd", "127.0.0.1"},
	} {
		if p := problemOf(t, query("/api", "q", tc.attack), 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/waf-blocked" ||
			strings.Contains(fmt.Sprint(p), "SecRule") {
			t.Errorf("%s: %v", tc.name, p)
		}
		if r := query("/api", "q", tc.twin); r.status != 200 {
			t.Errorf("%s, benign twin %q: %d %s", tc.name, tc.twin, r.status, r.body)
		}
	}
	if p := problemOf(t, postJSON(`{"note": "x' UNION SELECT password FROM users --"}`), 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/waf-blocked" {
		t.Errorf("SQL injection in a JSON field: %v", p)
	}
	// What only looks like an inline image is read as ever.
	for _, avatar := range []string{"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+", "data:image/png;base64,iVBORw0K<script>alert(1)</script>"} {
		if r := postJSON(`{"avatar": "` + avatar + `"}`); r.status != 403 {
			t.Errorf("avatar %s: %d %s", avatar, r.status, r.body)
		}
	}
	// A chunked body past the body limit is a 413 problem, not a dropped
	// connection, when the WAF is the stage that reads it.
	big := io.MultiReader(strings.NewReader(`{"pad": "`), strings.NewReader(strings.Repeat("x", 1<<20)), strings.NewReader(`"}`))
	if p := problemOf(t, do(t, client, "POST", g.url("/api/orders"), big, with(hdr, "Content-Type", "application/json")), 413); p["type"] != "tag:rampart-gw.github.io,2026:problems/payload-too-large" {
		t.Errorf("an oversized chunked body: %v", p)
	}
	// A JSON API's usual content passes at paranoia 1.
	for _, body := range []string{
		`{"customer": {"email": "ada.lovelace@example.com", "name": "Ada O'Neil"}, "items": [{"sku": "SELECT-123", "qty": 2}]}`,
		`{"product": "Drop Table Lamp", "description": "A table lamp; order by phone or online.", "tags": ["home", "light"]}`,
		`{"avatar": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "nested": {"a": {"b": {"c": [1, 2, 3]}}}}`,
		`{"query": "price >= 10 and price <= 20", "sort": "-created_at", "page": {"size": 50, "cursor": "eyJpZCI6MTIzfQ"}}`,
		// an inline avatar, and a note of numbered lines (^ is the start of the value, not of each line)
		`{"name": "Ada", "avatar": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}`,
		`{"note": "Meeting notes:\n\n1. Budget approved.\n2. Select a vendor by Friday.\n- [ ] update the CRM record"}`,
	} {
		if r := postJSON(body); r.status != 200 {
			t.Errorf("legitimate JSON %s: %d %s", body, r.status, r.body)
		}
	}
	// The route serves every method of an API, and the CRS is told so:
	// PUT, PATCH and DELETE pass (911100 flags them by default), as does
	// a JSON merge patch (920420 flags content types not on its list).
	for _, m := range []struct{ method, ct string }{{"PUT", "application/json"}, {"PATCH", "application/merge-patch+json"}, {"DELETE", ""}} {
		h := hdr
		var body io.Reader
		if m.ct != "" {
			h, body = with(hdr, "Content-Type", m.ct), strings.NewReader(`{"status": "shipped", "note": "left with the neighbour"}`)
		}
		if r := do(t, client, m.method, g.url("/api/orders/7"), body, h); r.status != 200 {
			t.Errorf("%s %s: %d %s", m.method, m.ct, r.status, r.body)
		}
	}
	// A false positive, and its exclusion for one parameter only.
	if r := query("/api", "q", "3 < 5 and 7 > 2"); r.status != 403 {
		t.Fatalf("the false positive was not refused without the exclusion: %d", r.status)
	}
	if r := query("/tuned", "q", "3 < 5 and 7 > 2"); r.status != 200 {
		t.Fatalf("excluded for q: %d %s", r.status, r.body)
	}
	if r := query("/tuned", "other", "1' OR '1'='1' --"); r.status != 403 {
		t.Fatalf("the exclusion covers q only, yet another parameter passed: %d", r.status)
	}
	// Detect mode: through, with an event naming the rules.
	if r := query("/beta", "q", "1' OR '1'='1' --"); r.status != 200 {
		t.Fatalf("detect mode: %d", r.status)
	}
	waitFor(t, 5*time.Second, "waf events", func() bool {
		blocked, detected := false, false
		for _, e := range g.events() {
			rule, _ := e["rule"].(string)
			switch {
			case e["type"] == "request.refused" && e["reason"] == "waf" && strings.Contains(rule, "942"):
				blocked = true
			case e["type"] == "waf.detect" && strings.Contains(rule, "942"):
				detected = true
			}
		}
		return blocked && detected
	})
	// Each match is also a ModSecurity-format error-log line, for the CRS
	// tooling, written before the response: it is there when the client
	// has its answer.
	if b, _ := os.ReadFile(filepath.Join(g.dir, "waf.log")); !strings.Contains(string(b), `[id "942100"]`) || !strings.Contains(string(b), `[id "949110"]`) {
		t.Errorf("waf.log, right after the responses:\n%s", b)
	}
	// The rules see the request as the client sent it: an HTTP/1.0
	// request without Host (920280) and one with an empty Host (920290),
	// pipelined on one connection, and the connection's own fields,
	// which are never forwarded (920210: conflicting Connection values).
	_ = rawRequest(t, g.http, "GET /beta/nohost HTTP/1.0\r\nConnection: keep-alive\r\nUser-Agent: e2e\r\nAccept: */*\r\n\r\n"+
		"GET /beta/emptyhost HTTP/1.0\r\nHost:\r\nUser-Agent: e2e\r\nAccept: */*\r\n\r\n")
	_ = rawRequest(t, g.http, "GET /beta/conn HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\nUser-Agent: e2e\r\nAccept: */*\r\n\r\n")
	b, _ := os.ReadFile(filepath.Join(g.dir, "watched.log"))
	lines := map[string]string{}
	for l := range strings.SplitSeq(string(b), "\n") {
		for _, u := range []string{"nohost", "emptyhost", "conn"} {
			if strings.Contains(l, `[uri "/beta/`+u+`"]`) {
				lines[u] += l
			}
		}
	}
	for u, want := range map[string]string{"nohost": "920280", "emptyhost": "920290", "conn": "920210"} {
		if !strings.Contains(lines[u], `[id "`+want+`"]`) {
			t.Errorf("/beta/%s: no %s line in\n%s", u, want, lines[u])
		}
	}
	if strings.Contains(lines["nohost"], `[id "920290"]`) || strings.Contains(lines["emptyhost"], `[id "920280"]`) {
		t.Errorf("a missing Host and an empty one were confused:\n%s\n%s", lines["nohost"], lines["emptyhost"])
	}
	g.metricsHave(t, `rampart_waf_total{outcome="blocked",policy="guarded"}`, `rampart_waf_total{outcome="detected",policy="watched"}`,
		`rampart_waf_rule_groups_total{group="sqli",policy="guarded"}`, `rampart_waf_rule_groups_total{group="xss",policy="guarded"}`)
}

// TestWAFResponses: with inspect_responses the upstream's responses go
// through the CRS's data-leakage rules before the client sees a byte: a
// page leaking an SQL error is withheld (502 response-withheld, counted,
// evented and in the WAF log), a normal page passes unchanged, and in
// detect mode the leak passes with a waf.detect event.
func TestWAFResponses(t *testing.T) {
	leaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		if strings.HasSuffix(r.URL.Path, "/report") {
			_, _ = io.WriteString(w, "<html><body>Warning: You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1</body></html>")
			return
		}
		_, _ = io.WriteString(w, "<html><body>Report ready.</body></html>")
	}))
	t.Cleanup(leaky.Close)
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  legacy: {targets: [{url: %s}]}
policies:
  guarded: {authenticate: [], waf: {paranoia: 1, inspect_responses: true, log_file: waf.log}}
  watched: {authenticate: [], waf: {paranoia: 1, mode: detect, inspect_responses: true}}
routes:
  - {name: legacy, match: {paths: ["/legacy/**"]}, upstream: legacy, policy: guarded}
  - {name: watched, match: {paths: ["/watched/**"]}, upstream: legacy, policy: watched}
`, leaky.URL))
	hdr := map[string]string{"User-Agent": "rampart-e2e/1.0", "Accept": "text/html"}
	if r := do(t, client, "GET", g.url("/legacy/status"), nil, hdr); r.status != 200 || string(r.body) != "<html><body>Report ready.</body></html>" {
		t.Errorf("a clean page: %d %s", r.status, r.body)
	}
	r := do(t, client, "GET", g.url("/legacy/report"), nil, hdr)
	if p := problemOf(t, r, 502); p["type"] != "tag:rampart-gw.github.io,2026:problems/response-withheld" || strings.Contains(string(r.body), "SQL syntax") {
		t.Errorf("a leak: %v", p)
	}
	if r := do(t, client, "GET", g.url("/watched/report"), nil, hdr); r.status != 200 || !strings.Contains(string(r.body), "SQL syntax") {
		t.Errorf("detect mode: %d %s", r.status, r.body)
	}
	waitFor(t, 5*time.Second, "the refusal and the detection", func() bool {
		var refused, detected bool
		for _, e := range g.events() {
			refused = refused || e["type"] == "request.refused" && e["reason"] == "waf_response" && strings.Contains(e["rule"].(string), "951")
			detected = detected || e["type"] == "waf.detect" && e["route"] == "watched" && strings.Contains(e["rule"].(string), "951")
		}
		return refused && detected
	})
	waitFor(t, 5*time.Second, "the WAF log line", func() bool {
		b, _ := os.ReadFile(filepath.Join(g.dir, "waf.log"))
		return strings.Contains(string(b), `[id "951`)
	})
	g.metricsHave(t, `rampart_waf_total{outcome="response_blocked",policy="guarded"} 1`, `rampart_waf_total{outcome="response_detected",policy="watched"} 1`)
}
