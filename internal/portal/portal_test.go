package portal

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/authn/builtin"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/registry"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/route"
	"github.com/rampart-gw/rampart/internal/schema"
	"github.com/rampart-gw/rampart/internal/webui"
)

const spec = `openapi: 3.0.3
info: {title: Orders, version: "2", description: "<b>bold</b>"}
paths:
  /v1/orders:
    get: {tags: [orders], summary: List, responses: {"200": {description: ok}}}
    post: {tags: [orders], summary: Create, responses: {"201": {description: ok}}}
  /v1/orders/{id}:
    parameters: [{name: id, in: path, required: true, schema: {type: string}}]
    get: {summary: One, responses: {"200": {description: ok}}}
    delete: {summary: Delete, responses: {"204": {description: ok}}}
  /v2/other:
    get: {responses: {"200": {description: ok}}}
`

func load(t *testing.T, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders.yaml"), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := `version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {disabled: true}
store: {driver: embedded, path: rampart.db}
authenticators:
  keys: {type: api_key, in: "query:key"}
  corp: {type: jwt, issuer: "https://idp.example", jwks_uri: "https://idp.example/jwks", audiences: [orders]}
roles:
  reader: {allow: [{methods: [GET], paths: ["/v1/**"]}]}
upstreams: {orders: {targets: [{url: "http://127.0.0.1:9"}]}}
policies:
  orders:
    authenticate: [keys, corp]
    authorize: {roles: [reader], scopes: ["orders:read"], when: "true"}
    rate_limits: [{key: consumer+route, rate: 5/m, burst: 3}, {key: ip, rate: 1/s, mode: shadow}]
    quota: {limit: 100, period: hour}
    validate: {openapi: orders.yaml}
  plain: {authenticate: []}
routes:
  - {name: orders, match: {paths: ["/v1/orders", "/v1/orders/{id}"], methods: [GET, POST]}, upstream: orders, policy: orders}
  - {name: plain, match: {paths: ["/plain"]}, upstream: orders, policy: plain}
` + extra
	cfg, err := config.ParseWith(filepath.Join(dir, "rampart.yaml"), []byte(yaml), func(string) (string, bool) { return "", false }, registry.Builtin().LoadOptions(false))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// compiled is what the gateway gives New for cfg: its match rules and
// OpenAPI documents, compiled.
func compiled(t *testing.T, cfg *config.Config) Options {
	t.Helper()
	rules, errs := route.Rules(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	docs, errs := schema.Documents(cfg)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return Options{Config: cfg, Rules: rules, Documents: docs, Authenticators: builtin.Kinds()}
}

func catalogOf(t *testing.T, cfg *config.Config) ([]*API, error) {
	o := compiled(t, cfg)
	return catalog(cfg, o.Authenticators, o.Rules, o.Documents, o.RouteDocuments)
}

func TestCatalog(t *testing.T) {
	apis, err := catalogOf(t, load(t, ""))
	if err != nil || len(apis) != 1 {
		t.Fatalf("%v %v", apis, err)
	}
	a := apis[0]
	if a.Route != "orders" || a.Title != "Orders" || a.Version != "2" {
		t.Fatalf("%+v", a)
	}
	if len(a.Auth.Methods) != 2 || a.Auth.Methods[0].Describe() != "API key in the key query parameter" ||
		a.Auth.Methods[1].Describe() != "Authorization: Bearer <token> (jwt)" || !a.Auth.Condition ||
		a.Auth.Roles[0] != "reader" || a.Auth.Scopes[0] != "orders:read" {
		t.Fatalf("auth %+v", a.Auth)
	}
	// The shadow limit enforces nothing, so it is not listed.
	if len(a.Limits) != 1 || a.Limits[0] != "5 per minute per consumer and route, bursts of 3" || a.Quota != "100 per hour per consumer" {
		t.Fatalf("limits %q quota %q", a.Limits, a.Quota)
	}
	// Only what the route serves: not DELETE (its methods), not /v2/other
	// (its paths); untagged operations are grouped apart.
	var got []string
	for _, g := range a.Groups {
		for _, op := range g.Ops {
			got = append(got, g.Name+":"+op.Method+" "+op.Path)
		}
	}
	if strings.Join(got, ",") != "Operations:GET /v1/orders/{id},orders:GET /v1/orders,orders:POST /v1/orders" {
		t.Fatalf("operations %v", got)
	}
}

// TestCatalogSameTitle: two APIs titled alike (two routes of one
// document here) are told apart by their route and where they are served.
func TestCatalogSameTitle(t *testing.T) {
	apis, err := catalogOf(t, load(t, "  - {name: orders-eu, match: {hosts: [eu.example.com], paths: [\"/v1/orders\"]}, upstream: orders, policy: orders}\n"))
	if err != nil || len(apis) != 2 {
		t.Fatalf("%v %v", apis, err)
	}
	if apis[0].Also != "orders" || apis[1].Also != "orders-eu" ||
		strings.Join(apis[0].Served, " ") != "/v1/orders /v1/orders/{id}" || strings.Join(apis[1].Served, " ") != "eu.example.com/v1/orders" {
		t.Fatalf("%+v\n%+v", apis[0], apis[1])
	}
	o := compiled(t, load(t, "  - {name: orders-eu, match: {hosts: [eu.example.com], paths: [\"/v1/orders\"]}, upstream: orders, policy: orders}\nportal: {}\n"))
	o.CSRF = webui.NewCSRF("c", "/")
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/portal/", nil))
	body := w.Body.String()
	if !strings.Contains(body, "Orders · orders</a>") || !strings.Contains(body, "Orders · orders-eu</a>") || !strings.Contains(body, "<code>eu.example.com/v1/orders</code>") {
		t.Fatalf("cards do not differ:\n%s", body)
	}
}

// TestCatalogDeprecated: a deprecated route's operations are marked so,
// and its card says until when it answers and where to go.
func TestCatalogDeprecated(t *testing.T) {
	o := compiled(t, load(t, "  - {name: orders-v0, match: {paths: [\"/v1/orders/{id}\"], methods: [DELETE]}, upstream: orders, policy: orders, deprecation: {since: 2026-06-01, sunset: 2027-01-01, successor: /v2/orders, link: \"https://developer.example.com/v2\"}}\nportal: {}\n"))
	apis, err := catalog(o.Config, o.Authenticators, o.Rules, o.Documents, o.RouteDocuments)
	if err != nil || len(apis) != 2 {
		t.Fatalf("%v %v", apis, err)
	}
	if apis[0].Retiring != "" || apis[0].Groups[0].Ops[0].Deprecated {
		t.Fatalf("the current route is marked deprecated: %+v", apis[0])
	}
	v0 := apis[1]
	if want := "Deprecated since 2026-06-01; it stops answering (410 Gone) on 2027-01-01. Move to /v2/orders. Migration notes: https://developer.example.com/v2"; v0.Retiring != want {
		t.Fatalf("retiring %q, want %q", v0.Retiring, want)
	}
	for _, g := range v0.Groups {
		for _, op := range g.Ops {
			if !op.Deprecated {
				t.Errorf("%s %s not marked deprecated", op.Method, op.Path)
			}
		}
	}
	o.CSRF = webui.NewCSRF("c", "/")
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "/portal/", nil))
	if body := w.Body.String(); !strings.Contains(body, "stops answering (410 Gone) on 2027-01-01") || !strings.Contains(body, `<span class="tag">deprecated</span>`) {
		t.Fatalf("the index does not show the deprecation:\n%s", body)
	}
}

func TestCodeSpans(t *testing.T) {
	got := codeSpans("Wait for `Retry-After`, then <retry>.")
	if len(got) != 3 || !got[1].Code || got[1].Text != "Retry-After" || got[2].Text != ", then <retry>." {
		t.Fatalf("%+v", got)
	}
}

func TestPages(t *testing.T) {
	o := compiled(t, load(t, "portal: {path: /dev}"))
	o.CSRF = webui.NewCSRF("c", "/")
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(method, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w
	}
	for _, tc := range []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/dev", 302, ""},
		{"GET", "/dev/", 200, "&lt;b&gt;bold&lt;/b&gt;"},
		{"GET", "/dev/apis/orders", 200, `data-spec="/dev/apis/orders/openapi.json"`},
		{"GET", "/dev/apis/orders/openapi.json", 200, `"title":"Orders"`},
		{"GET", "/dev/apis/plain", 404, "No API with an OpenAPI description"},
		{"GET", "/dev/problems/", 200, "csrf-refused"},
		{"GET", "/dev/problems/rate-limited", 200, "<code>Retry-After</code>"},
		{"GET", "/dev/problems/nope", 404, "No problem type is called nope"},
		{"GET", "/dev/me", 404, "Self-service is off"},
		{"GET", "/dev/api/me", 404, "The portal has no GET /dev/api/me"},
		{"DELETE", "/dev/", 404, "The portal has no DELETE"},
		{"GET", "/dev/static/portal.js", 200, "sessionStorage"},
		{"GET", "/dev/swagger/swagger-ui-bundle.js", 200, ""},
		{"GET", "/dev/ui/rampart.css", 200, ".card"},
	} {
		w := serve(tc.method, tc.path)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s %s: %d, want %d with %q: %.300s", tc.method, tc.path, w.Code, tc.status, tc.want, w.Body.String())
		}
		if w.Header().Get("Content-Security-Policy") != webui.CSP {
			t.Errorf("%s %s: CSP %q", tc.method, tc.path, w.Header().Get("Content-Security-Policy"))
		}
		if w.Code == 404 && w.Header().Get("Content-Type") != problem.ContentType {
			t.Errorf("%s %s: 404 as %q", tc.method, tc.path, w.Header().Get("Content-Type"))
		}
	}
	if n := len(problem.Catalogue()); strings.Count(serve("GET", "/dev/problems/").Body.String(), `class="mono" href="/dev/problems/`) != n {
		t.Errorf("the problems page does not list all %d types", n)
	}
}

func TestReach(t *testing.T) {
	apis, err := catalogOf(t, load(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		id      reqctx.Identity
		missing string
	}{
		{"everything", reqctx.Identity{Authenticator: "keys", Scopes: []string{"orders:read"}, Roles: []string{"reader"}}, ""},
		{"no scope", reqctx.Identity{Authenticator: "corp", Roles: []string{"reader"}}, "scope orders:read"},
		{"no role", reqctx.Identity{Authenticator: "keys", Scopes: []string{"orders:read"}}, "one of the roles reader"},
		{"another authenticator", reqctx.Identity{Authenticator: "elsewhere", Scopes: []string{"orders:read"}, Roles: []string{"reader"}},
			"a credential it accepts: API key in the key query parameter, or Authorization: Bearer <token> (jwt)"},
	} {
		r := reach(apis, &tc.id)
		if len(r) != 1 || r[0].Callable != (tc.missing == "") || strings.Join(r[0].Missing, "; ") != tc.missing || !r[0].Condition {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}
