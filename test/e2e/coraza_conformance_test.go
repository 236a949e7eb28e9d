package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	corazae2e "github.com/corazawaf/coraza/v3/http/e2e"
)

// TestCorazaConnectorCases runs the cases of Coraza's own connector
// checker (github.com/corazawaf/coraza/v3/http/e2e), with its rules,
// through the gateway, and holds the gateway to its own contract where
// the checker's expectations differ: the checker is written for
// connectors that answer a denial with a bare 403 and an empty body,
// while every refusal here is a problem (403 waf-blocked on requests,
// 502 response-withheld on responses, which the client never sees part
// of). The checker's engine directives are the policy's settings: the
// engine on is mode: block, body access is always on, response body
// access is inspect_responses.
func TestCorazaConnectorCases(t *testing.T) {
	var rules []string
	for _, l := range strings.Split(corazae2e.Directives, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "SecRuleEngine "), strings.HasPrefix(l, "SecRequestBodyAccess "),
			strings.HasPrefix(l, "SecResponseBodyAccess "), strings.HasPrefix(l, "SecResponseBodyMimeType "):
			// settings of the policy below
		case strings.HasPrefix(l, "SecRule "):
			rules = append(rules, "        "+l)
		default:
			t.Fatalf("a directive of the checker this test does not map: %s", l)
		}
	}
	up := startUpstream(t, "httpbin")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  httpbin: {targets: [{url: %s}]}
policies:
  connector:
    authenticate: []
    waf:
      mode: block
      paranoia: 1
      inspect_responses: true
      rules: |
%s
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: httpbin, policy: connector}
`, up.url(), strings.Join(rules, "\n")))
	withHeader := func(h map[string]string) map[string]string {
		out := map[string]string{"coraza-e2e": "ok"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	const (
		blocked  = "tag:rampart-gw.github.io,2026:problems/waf-blocked"
		withheld = "tag:rampart-gw.github.io,2026:problems/response-withheld"
	)
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		problem                  string
	}{
		// The checker wants its rule's status:424; the gateway answers
		// every request-phase denial 403 waf-blocked.
		{"config check: the coraza-e2e header missing", "GET", "/status/200", "", nil, 403, blocked},
		{"proxy check", "GET", "/", "", withHeader(nil), 200, ""},
		{"legit request", "GET", "/?arg=arg_1", "", withHeader(nil), 200, ""},
		{"denied by URL", "GET", "/admin", "", withHeader(nil), 403, blocked},
		{"legit body", "POST", "/anything", "This is a legit payload", withHeader(form), 200, ""},
		{"malicious body", "POST", "/anything", "maliciouspayload", withHeader(form), 403, blocked},
		{"malicious response header", "GET", "/response-headers?pass=leak", "", withHeader(nil), 502, withheld},
		{"malicious response body", "POST", "/anything", "responsebodycode", withHeader(form), 502, withheld},
		{"XSS in the query", "GET", "/anything?arg=" + url.QueryEscape("<script>alert(0)</script>"), "", withHeader(nil), 403, blocked},
		{"SQLi in the body", "POST", "/anything", "1%27%20ORDER%20BY%203--%2B", withHeader(form), 403, blocked},
		{"scanner user agent (913100)", "GET", "/anything", "", withHeader(map[string]string{"User-Agent": "Grabber/0.1 (X11; U; Linux i686; en-US; rv:1.7)"}), 403, blocked},
		{"SSE stream", "GET", "/sse", "", withHeader(nil), 200, ""},
	} {
		var body *strings.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		var r response
		if body != nil {
			r = do(t, client, tc.method, g.url(tc.path), body, tc.header)
		} else {
			r = do(t, client, tc.method, g.url(tc.path), nil, tc.header)
		}
		if tc.problem == "" {
			if r.status != tc.status {
				t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.body, tc.status)
			}
			continue
		}
		if p := problemOf(t, r, tc.status); p["type"] != tc.problem {
			t.Errorf("%s: %v, want %d %s", tc.name, p, tc.status, tc.problem)
		}
	}
}
