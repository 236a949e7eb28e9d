package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// xss is written into the OpenAPI description the portal renders: the
// page must show it as text and never run it.
const xss = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`

const portalSpec = `openapi: 3.0.3
info:
  title: Orders API
  version: "1.0"
  description: 'Orders of the shop. ` + xss + `'
paths:
  /v1/orders/{id}:
    get:
      tags: [orders]
      summary: 'One order ` + xss + `'
      parameters:
        - {name: id, in: path, required: true, schema: {type: string, pattern: "^ord_[a-z0-9]+$"}}
      responses: {"200": {description: one order}}
  /v1/orders:
    post:
      tags: [orders]
      summary: Place an order
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, required: [sku], properties: {sku: {type: string}}}
      responses: {"201": {description: created}}
`

// portalGateway runs a gateway with the portal, self-service by API key,
// a route that bans an address after two rate-limit offences, and the
// dashboard behind an admin token. It returns the gateway, the token and
// an API key of consumers acme and bob.
func portalGateway(t *testing.T) (g *gw, token, acme, bob string) {
	t.Helper()
	dir := t.TempDir()
	up := startUpstream(t, "orders")
	if err := os.Mkdir(filepath.Join(dir, "specs"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "specs", "orders.yaml"), portalSpec)
	token = "dashboard-admin-token-0123456789"
	writeFile(t, filepath.Join(dir, "admin.token"), token)
	seed := make([]byte, 32)
	_, _ = rand.Read(seed)
	writeFile(t, filepath.Join(dir, "trail.key"), base64.StdEncoding.EncodeToString(seed))
	g = startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  trusted_proxies: [127.0.0.1/32]
admin: {listen: "127.0.0.1:0", token: "file:admin.token"}
store: {driver: embedded, path: rampart.db, sync_interval: 200ms}
trail: {signing_key: "file:trail.key", checkpoint_interval: 500ms}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
  partner: {type: api_key, in: "query:ak"}
upstreams:
  orders: {targets: [{url: %s}]}
policies:
  orders-api:
    authenticate: [keys, partner]
    authorize: {any_authenticated: true}
    rate_limits: [{key: consumer, rate: 50/s, burst: 50}]
    quota: {limit: 1000, period: day}
    validate: {openapi: specs/orders.yaml}
  login:
    authenticate: []
    rate_limits: [{key: ip, rate: 1/m, burst: 1, name: login-ip}]
    graduated: {key: ip, offences: [rate-limited], window: 1m, ban: {after: 2, periods: [10m]}}
  self-service:
    authenticate: [keys]
    authorize: {any_authenticated: true}
    rate_limits: [{key: ip, rate: 1/m, burst: 20, name: self-service-ip}]
routes:
  - {name: orders, match: {paths: ["/v1/orders", "/v1/orders/{id}"], methods: [GET, POST]}, upstream: orders, policy: orders-api}
  - {name: login, match: {paths: ["/login"]}, upstream: orders, policy: login}
portal: {title: Acme APIs, policy: self-service, listen: "127.0.0.1:0"}
`, up.url()))
	key := func(consumer string) string {
		code, out, errs := g.cli("keys", "create", "--consumer", consumer)
		if code != 0 {
			t.Fatalf("keys create: %d %s", code, errs)
		}
		return strings.Fields(out)[0]
	}
	acme, bob = key("acme"), key("bob")
	waitFor(t, 5*time.Second, "keys synced", func() bool {
		return do(t, client, "GET", g.url("/v1/orders/ord_1"), nil, map[string]string{"X-API-Key": bob}).status == 200
	})
	return g, token, acme, bob
}

// artifact is where the browser tests save their screenshots: $ARTIFACTS_DIR
// when set, else test/e2e/artifacts.
func artifact(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// browser starts headless Debian Chromium (make test installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the browser tests need Debian's chromium package: make test installs it (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs one step in the browser; a step has 30 seconds.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(step, actions...); err != nil {
		// What the page showed, for the failure's artifacts.
		shotCtx, cancelShot := context.WithTimeout(ctx, 10*time.Second)
		defer cancelShot()
		var png []byte
		var url, text string
		if chromedp.Run(shotCtx, chromedp.Location(&url), chromedp.Evaluate(`document.body ? document.body.innerText.slice(0, 2000) : ""`, &text),
			chromedp.FullScreenshot(&png, 100)) == nil {
			artifact(t, "failed-"+strings.ReplaceAll(what, " ", "-")+".png", png)
		}
		t.Fatalf("%s: %v (page %s):\n%s", what, err, url, text)
	}
}

// follow runs an action that navigates (a link, a form) and waits for
// the new document's response, so that no later step queries the old one.
func follow(t *testing.T, ctx context.Context, what string, action chromedp.Action) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(step, action)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	// The response is nil when the browser did not report it; the new
	// document has loaded all the same.
	if resp != nil && resp.Status != http.StatusOK {
		t.Fatalf("%s: %s answered %d", what, resp.URL, resp.Status)
	}
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&png, 100))
	artifact(t, name, png)
}

// TestPortalInBrowser drives the portal and the dashboard in real
// Chromium, as a visitor and an operator would.
func TestPortalInBrowser(t *testing.T) {
	g, token, acme, _ := portalGateway(t)
	ctx := browser(t)
	var s string

	// The portal lists the API with what it asks and its limits.
	run(t, ctx, "portal index", chromedp.Navigate(g.url("/portal/")), chromedp.WaitVisible("#api-orders"),
		chromedp.Text("#api-orders", &s))
	for _, want := range []string{"Orders API", "API key in the X-API-Key header", "50 per second per consumer", "Quota: 1000 per day per consumer", "/v1/orders/{id}", xss} {
		if !strings.Contains(s, want) {
			t.Fatalf("portal index lacks %q:\n%s", want, s)
		}
	}
	shot(t, ctx, "portal-index.png")

	// Find the operation, and the reference Swagger UI rendered from the spec.
	follow(t, ctx, "open operation", chromedp.Click(`a[href*="GET%20/v1/orders/%7bid%7d"], a[href*="op=GET"]`))
	run(t, ctx, "operation page", chromedp.WaitVisible("#try-form"), chromedp.WaitVisible("#reference .opblock"), chromedp.Text("#reference", &s))
	if !strings.Contains(s, "/v1/orders/{id}") {
		t.Fatalf("reference lacks the operation: %q", s)
	}

	// A try-it request with a valid key: 200.
	run(t, ctx, "try with key",
		chromedp.SetValue("#try-path", "/v1/orders/ord_42"),
		chromedp.SendKeys("#cred-value", acme),
		chromedp.Click("#try-send"),
		chromedp.WaitVisible("#try-result"),
		chromedp.Poll(`document.getElementById("try-status").textContent.startsWith("200")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text("#try-body-out", &s))
	if !strings.Contains(s, "/v1/orders/ord_42") {
		t.Fatalf("try-it body: %s", s)
	}
	shot(t, ctx, "portal-try-it-200.png")

	// Without the key: the 401 problem, rendered with its detail and a
	// link to the problem's page.
	var href string
	run(t, ctx, "try without key",
		chromedp.Click("#cred-forget"),
		chromedp.Click("#try-send"),
		chromedp.Poll(`document.getElementById("try-status").textContent.startsWith("401")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.WaitVisible("#try-problem"),
		chromedp.Text("#try-problem-detail", &s),
		chromedp.AttributeValue("#try-problem-link", "href", &href, nil))
	if !strings.Contains(s, "This endpoint needs credentials") || href != "/portal/problems/unauthorized" {
		t.Fatalf("401 rendered as %q, link %q", s, href)
	}
	shot(t, ctx, "portal-try-it-401.png")
	follow(t, ctx, "problem page", chromedp.Click("#try-problem-link"))
	run(t, ctx, "problem page text", chromedp.WaitVisible("main h1"), chromedp.Text("main", &s))
	if !strings.Contains(s, "Authentication required") || !strings.Contains(s, "What to do") {
		t.Fatalf("problem page: %q", s)
	}

	// Nothing from the spec ran, and the CSP refuses inline script.
	var xssRan, inlineRan bool
	run(t, ctx, "no script ran",
		chromedp.Navigate(g.url("/portal/apis/orders")), chromedp.WaitVisible("#reference .opblock"),
		chromedp.Evaluate(`window.__xss !== undefined`, &xssRan),
		chromedp.Evaluate(`(function(){var s=document.createElement("script");s.textContent="window.__inline=1";document.body.appendChild(s);return window.__inline!==undefined})()`, &inlineRan))
	if xssRan || inlineRan {
		t.Fatalf("script ran: from the spec %v, inline %v", xssRan, inlineRan)
	}

	// Self-service: own keys, and a rotation shown once.
	var newKey string
	run(t, ctx, "my account",
		chromedp.Navigate(g.url("/portal/me")), chromedp.WaitVisible("#me-form"),
		chromedp.SendKeys("#cred-value", acme), chromedp.Click("#me-load"),
		chromedp.WaitVisible("#me-account"), chromedp.Text("#me-consumer", &s))
	if s != "acme" {
		t.Fatalf("account of %q", s)
	}
	run(t, ctx, "APIs acme can call", chromedp.Text("#me-apis", &s))
	if !strings.Contains(s, "Orders API") || !strings.Contains(s, "yes") {
		t.Fatalf("APIs you can call: %q", s)
	}
	run(t, ctx, "rotate", chromedp.Click("button.rotate"), chromedp.WaitVisible("#me-new-key-value"), chromedp.Text("#me-new-key-value", &newKey))
	if !strings.HasPrefix(newKey, "rk_") {
		t.Fatalf("rotated key %q", newKey)
	}
	shot(t, ctx, "portal-my-account.png")
	waitFor(t, 5*time.Second, "the new key works", func() bool {
		return do(t, client, "GET", g.url("/v1/orders/ord_1"), nil, map[string]string{"X-API-Key": newKey}).status == 200
	})

	// The dashboard: sign in, see a refusal, lift a ban.
	run(t, ctx, "dashboard sign-in",
		chromedp.Navigate("http://"+g.admin+"/dashboard"), chromedp.WaitVisible("#login-form"),
		chromedp.SendKeys("#token", token))
	follow(t, ctx, "dashboard sign-in", chromedp.Click("#login"))
	run(t, ctx, "dashboard", chromedp.WaitVisible("#chart-requests"))
	const abuser = "203.0.113.50"
	for i := 0; i < 4; i++ {
		do(t, client, "GET", g.url("/login"), nil, map[string]string{"X-Forwarded-For": abuser})
	}
	if r := do(t, client, "GET", g.url("/login"), nil, map[string]string{"X-Forwarded-For": abuser}); r.status != 403 {
		t.Fatalf("abuser not banned: %d %s", r.status, r.body)
	}
	run(t, ctx, "refusal and ban shown",
		chromedp.WaitVisible("button.lift", chromedp.ByQuery),
		chromedp.Poll(`document.getElementById("legend-refusals").textContent.includes("rate_limited")`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Poll(`document.querySelector('#bars-ips rect[data-name="`+abuser+`"]') !== null`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Text("#bans", &s))
	if !strings.Contains(s, "ip="+abuser) {
		t.Fatalf("bans table: %q", s)
	}
	shot(t, ctx, "dashboard.png")
	var rows []*cdp.Node
	run(t, ctx, "lift ban", chromedp.Click("button.lift"),
		chromedp.Poll(`document.querySelectorAll("button.lift").length === 0`, nil, chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Nodes("#bans tr", &rows, chromedp.ByQueryAll))
	if r := do(t, client, "GET", g.url("/login"), nil, map[string]string{"X-Forwarded-For": abuser}); r.status == 403 {
		t.Fatalf("still banned after the lift: %s", r.body)
	}
	waitFor(t, 5*time.Second, "admin.ban_lifted event", func() bool {
		for _, e := range g.events() {
			if e["type"] == "admin.ban_lifted" && e["stage"] == "dashboard" {
				return true
			}
		}
		return false
	})
	// The lift and the rotation are in the audit trail.
	waitFor(t, 10*time.Second, "the trail's entries", func() bool {
		code, out, _ := g.cli("trail", "export")
		return code == 0 && strings.Contains(out, `"action":"admin.ban_lifted"`) && strings.Contains(out, `"actor":"dashboard"`) &&
			strings.Contains(out, `"action":"consumer.key_rotated"`) && strings.Contains(out, `"actor":"portal"`)
	})
}

// TestPortalSecurity checks the portal's and the dashboard's own
// defences from outside, with a plain HTTP client.
func TestPortalSecurity(t *testing.T) {
	g, token, acme, bob := portalGateway(t)

	// Every page carries the strict CSP; spec text is escaped.
	for _, u := range []string{g.url("/portal/"), g.url("/portal/apis/orders"), g.url("/portal/problems/unauthorized"), g.url("/portal/me"), "http://" + g.admin + "/dashboard"} {
		r := get(t, u)
		if r.status != 200 || !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") ||
			strings.Contains(r.header.Get("Content-Security-Policy"), "unsafe-inline") || r.header.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("%s: %d CSP %q", u, r.status, r.header.Get("Content-Security-Policy"))
		}
		if strings.Contains(string(r.body), "<script>window.__xss") || strings.Contains(string(r.body), "onerror=\"window") {
			t.Fatalf("%s: spec text not escaped", u)
		}
	}
	if body := string(get(t, g.url("/portal/")).body); !strings.Contains(body, "&lt;script&gt;window.__xss=1&lt;/script&gt;") {
		t.Fatalf("escaped description missing")
	}

	// portal.listen serves the portal and, beside it, the routes.
	m := regexp.MustCompile(`"msg":"listening","kind":"portal","addr":"([0-9.:]+)"`).FindStringSubmatch(g.stderr.String())
	if m == nil {
		t.Fatalf("no portal listener in the log:\n%s", g.stderr.String())
	}
	if r := get(t, "http://"+m[1]+"/portal/"); r.status != 200 || !strings.Contains(string(r.body), "Orders API") {
		t.Fatalf("portal on its listener: %d", r.status)
	}
	if r := do(t, client, "GET", "http://"+m[1]+"/v1/orders/ord_1", nil, map[string]string{"X-API-Key": bob}); r.status != 200 {
		t.Fatalf("a route on the portal's listener: %d %s", r.status, r.body)
	}

	// A key sent in a query parameter of the operator's naming is not
	// logged: the access log redacts api_key parameters by name.
	if r := get(t, g.url("/v1/orders/ord_1?ak="+acme+"&page=1")); r.status != 200 {
		t.Fatalf("key in the query: %d %s", r.status, r.body)
	}
	waitFor(t, 5*time.Second, "the access-log line", func() bool {
		for _, l := range g.accessLog(t) {
			if l["query"] == "ak=[redacted]&page=1" {
				return true
			}
		}
		return false
	})
	if strings.Contains(g.stdout.String(), acme) || strings.Contains(g.stderr.String(), acme) {
		t.Fatal("an API key reached the access log or the events")
	}

	// A browser session of the portal: its CSRF cookie and token.
	jar, _ := cookiejar.New(nil)
	browserClient := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	page := do(t, browserClient, "GET", g.url("/portal/me"), nil, nil)
	csrf := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(string(page.body))[1]

	me := func(key string) map[string]any {
		r := do(t, client, "GET", g.url("/portal/api/me"), nil, map[string]string{"X-API-Key": key})
		var m map[string]any
		if r.status != 200 || json.Unmarshal(r.body, &m) != nil {
			t.Fatalf("GET /portal/api/me: %d %s", r.status, r.body)
		}
		return m
	}
	acmeKeyID := me(acme)["key_id"].(string)
	if keys := me(bob)["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["id"] == acmeKeyID {
		t.Fatalf("bob sees keys %v", keys)
	}
	rotate := func(key, id string, hdr map[string]string) response {
		h := map[string]string{"X-API-Key": key}
		for k, v := range hdr {
			h[k] = v
		}
		return do(t, browserClient, "POST", g.url("/portal/api/me/keys/"+id+"/rotate"), nil, h)
	}
	for name, tc := range map[string]struct {
		key, id string
		hdr     map[string]string
		status  int
		problem string
	}{
		"no csrf token":      {acme, acmeKeyID, nil, 403, "csrf-refused"},
		"wrong csrf token":   {acme, acmeKeyID, map[string]string{"X-CSRF-Token": "x" + csrf[1:]}, 403, "csrf-refused"},
		"cross-site":         {acme, acmeKeyID, map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}, 403, "csrf-refused"},
		"no credential":      {"", acmeKeyID, map[string]string{"X-CSRF-Token": csrf}, 401, "unauthorized"},
		"another's key":      {bob, acmeKeyID, map[string]string{"X-CSRF-Token": csrf}, 404, "not-found"},
		"a key that is none": {bob, "nosuchkey0000000", map[string]string{"X-CSRF-Token": csrf}, 404, "not-found"},
	} {
		r := rotate(tc.key, tc.id, tc.hdr)
		// With the portal on, a type is the path of its portal page.
		p := problemOf(t, r, tc.status)
		if p["type"] != "/portal/problems/"+tc.problem {
			t.Fatalf("%s: %v", name, p)
		}
		if page := get(t, g.url(p["type"].(string))); page.status != 200 || !strings.Contains(string(page.body), p["title"].(string)) {
			t.Fatalf("%s: the type does not dereference to its page: %d", name, page.status)
		}
	}
	if keys := me(acme)["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["replaced_by"] != nil {
		t.Fatalf("acme's key changed: %v", keys)
	}
	// With the token, from the page's origin, the owner rotates.
	r := rotate(acme, acmeKeyID, map[string]string{"X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"})
	var rotated struct{ Key string }
	if r.status != 201 || json.Unmarshal(r.body, &rotated) != nil || !strings.HasPrefix(rotated.Key, "rk_") {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}

	// Self-service is held to its policy's limits: guessing keys there
	// runs into the per-address rate limit like anywhere else.
	limited := false
	for i := 0; i < 25 && !limited; i++ {
		r := do(t, client, "GET", g.url("/portal/api/me"), nil, map[string]string{"X-API-Key": "rk_guess000000000_" + strings.Repeat("a", 52)})
		limited = r.status == 429
	}
	if !limited {
		t.Fatal("wrong keys on self-service were never rate limited")
	}

	// The dashboard: its data needs a sign-in; sign-in and lifting a ban
	// need the CSRF token.
	adm := "http://" + g.admin
	problemOf(t, get(t, adm+"/dashboard/api/data"), 401)
	if r := do(t, client, "GET", adm+"/dashboard/api/data", nil, map[string]string{"Authorization": "Bearer " + token}); r.status != 200 {
		t.Fatalf("data with the token: %d", r.status)
	}
	login := func(c *http.Client, form string) response {
		return do(t, c, "POST", adm+"/dashboard/login", strings.NewReader(form), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	}
	djar, _ := cookiejar.New(nil)
	dash := &http.Client{Jar: djar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	dpage := do(t, dash, "GET", adm+"/dashboard", nil, nil)
	dcsrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(dpage.body))[1]
	if p := problemOf(t, login(dash, "token="+token), 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/csrf-refused" {
		t.Fatalf("login without csrf: %v", p)
	}
	if r := login(dash, "csrf="+dcsrf+"&token=wrong"); r.status != 401 {
		t.Fatalf("login with a wrong token: %d", r.status)
	}
	if r := login(dash, "csrf="+dcsrf+"&token="+token); r.status != 303 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if r := do(t, dash, "GET", adm+"/dashboard/api/data", nil, nil); r.status != 200 {
		t.Fatalf("data after sign-in: %d", r.status)
	}
	if p := problemOf(t, do(t, dash, "POST", adm+"/dashboard/api/bans/x/lift", nil, nil), 403); p["type"] != "tag:rampart-gw.github.io,2026:problems/csrf-refused" {
		t.Fatalf("lift without csrf: %v", p)
	}
	// The admin API itself still wants the bearer token, session or not.
	problemOf(t, do(t, dash, "GET", adm+"/bans", nil, nil), 401)
	waitFor(t, 5*time.Second, "admin.auth_failed for the wrong sign-in", func() bool {
		for _, e := range g.events() {
			if e["type"] == "admin.auth_failed" && e["stage"] == "dashboard" {
				return true
			}
		}
		return false
	})
}
