package e2e

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const ordersSpec = `openapi: 3.0.3
info: {title: Orders, version: "1"}
paths:
  /v1/orders:
    get:
      parameters:
        - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 50}}
      responses: {"200": {description: ok}}
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [sku, qty]
              additionalProperties: false
              properties:
                sku: {type: string, pattern: "^[A-Z]+-[0-9]+$"}
                qty: {type: integer, minimum: 1, maximum: 100}
      responses: {"201": {description: created}}
  /v1/orders/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string, pattern: "^ord_[a-z0-9]+$"}}
      responses: {"200": {description: ok}}
`

// TestOpenAPIValidation: requests are checked against the API's OpenAPI
// description (path and query parameters, body schema) and, with strict,
// operations it does not describe are refused; errors point at the field
// without echoing the value.
func TestOpenAPIValidation(t *testing.T) {
	up := startUpstream(t, "orders")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "orders.yaml"), ordersSpec)
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  orders: {targets: [{url: %s}]}
policies:
  orders-api:
    authenticate: []
    validate: {openapi: orders.yaml, strict: true}
routes:
  - {name: orders, match: {paths: ["/v1/**"]}, upstream: orders, policy: orders-api}
`, up.url()))
	send := func(method, path, body string) response {
		var hdr map[string]string
		if body != "" {
			hdr = map[string]string{"Content-Type": "application/json"}
		}
		return do(t, client, method, g.url(path), strings.NewReader(body), hdr)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/v1/orders", `{"sku": "ABC-12", "qty": 3}`},
		{"GET", "/v1/orders?limit=10", ""},
		{"GET", "/v1/orders/ord_7x9", ""},
	} {
		if r := send(tc.method, tc.path, tc.body); r.status != 200 {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
		}
	}
	for _, tc := range []struct{ name, method, path, body, location string }{
		{"qty too small", "POST", "/v1/orders", `{"sku": "ABC-12", "qty": 0}`, "body#/qty"},
		{"an extra field", "POST", "/v1/orders", `{"sku": "ABC-12", "qty": 1, "admin": true}`, "body"},
		{"a bad pattern", "POST", "/v1/orders", `{"sku": "drop table", "qty": 1}`, "body#/sku"},
		{"a query over its maximum", "GET", "/v1/orders?limit=500", "", "query.limit"},
		{"a path parameter", "GET", "/v1/orders/12345", "", "path.id"},
	} {
		r := send(tc.method, tc.path, tc.body)
		p := problemOf(t, r, 400)
		errs, _ := p["errors"].([]any)
		if p["type"] != "tag:rampart-gw.github.io,2026:problems/schema-violation" || len(errs) == 0 || errs[0].(map[string]any)["location"] != tc.location {
			t.Errorf("%s: %v", tc.name, p)
		}
		if strings.Contains(string(r.body), "drop table") {
			t.Errorf("%s: the problem echoes the value", tc.name)
		}
	}
	// A chunked body past the body limit is a 413, not a schema violation.
	big := io.MultiReader(strings.NewReader(`{"sku": "ABC-1", "qty": 1, "note": "`), strings.NewReader(strings.Repeat("x", 1<<20)), strings.NewReader(`"}`))
	if p := problemOf(t, do(t, client, "POST", g.url("/v1/orders"), big, map[string]string{"Content-Type": "application/json"}), 413); p["type"] != "tag:rampart-gw.github.io,2026:problems/payload-too-large" {
		t.Errorf("an oversized chunked body: %v", p)
	}
	// strict: undocumented operations.
	if p := problemOf(t, send("DELETE", "/v1/orders", ""), 405); p["type"] != "tag:rampart-gw.github.io,2026:problems/method-not-allowed" {
		t.Errorf("undocumented method: %v", p)
	}
	if p := problemOf(t, send("GET", "/v1/admin", ""), 404); p["type"] != "tag:rampart-gw.github.io,2026:problems/not-found" {
		t.Errorf("undocumented path: %v", p)
	}
}

// echoSpec describes the echo upstream's answers, one of them wrongly (ok
// is a boolean, not a string), for the response check.
const echoSpec = `openapi: 3.0.3
info: {title: Echo, version: "1"}
paths:
  /v1/items/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: the echo of the request
          content:
            application/json:
              schema:
                type: object
                required: [method, path, headers]
                properties:
                  method: {type: string, enum: [GET]}
                  path: {type: string}
                  headers: {type: object, additionalProperties: {type: string}}
  /v1/small:
    get:
      responses:
        "200":
          description: a small document
          content:
            application/json:
              schema:
                type: object
                required: [ok]
                properties: {ok: {type: string}}
  /v1/status/{code}:
    get:
      parameters:
        - {name: code, in: path, required: true, schema: {type: integer}}
      responses: {"200": {description: ok}}
  /v1/bytes/{n}:
    get:
      parameters:
        - {name: n, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: a JSON document, it says
          content:
            application/json:
              schema: {type: object}
`

// TestOpenAPIResponses: with validate.responses: detect the upstream's
// responses are checked against the description and a mismatch is
// reported (event, metric) while the client gets the response unchanged.
func TestOpenAPIResponses(t *testing.T) {
	up := startUpstream(t, "echo")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "echo.yaml"), echoSpec)
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  echo-api:
    authenticate: []
    validate: {openapi: echo.yaml, strict: true, responses: detect}
routes:
  - {name: echo, match: {paths: ["/v1/**"]}, upstream: echo, policy: echo-api, rewrite: {strip_prefix: /v1}}
`, up.url()))
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/v1/items/a1", 200, `"method": "GET"`},
		{"/v1/small", 200, `{"ok":true}`},
		{"/v1/status/503", 503, ""},
		{"/v1/bytes/16", 200, ""},
	} {
		r := get(t, g.url(tc.path))
		if r.status != tc.status || !strings.Contains(string(r.body), tc.body) {
			t.Errorf("%s: %d %s: detect mode must pass the response on", tc.path, r.status, r.body)
		}
	}
	want := map[string]string{"/small": "body#/ok: ", "/status/503": "status: ", "/bytes/16": "content-type: "}
	waitFor(t, 5*time.Second, "schema.response events", func() bool {
		n := 0
		for _, e := range g.events() {
			if e["type"] == "schema.response" && strings.Contains(e["detail"].(string), want[strings.TrimPrefix(e["path"].(string), "/v1")]) {
				n++
			}
		}
		return n == len(want)
	})
	for _, e := range g.events() {
		if e["type"] == "schema.response" && strings.HasPrefix(e["path"].(string), "/v1/items") {
			t.Errorf("a matching response was reported: %v", e)
		}
	}
	g.metricsHave(t, `rampart_schema_responses_total{outcome="valid",policy="echo-api"} 1`,
		`rampart_schema_responses_total{outcome="invalid",policy="echo-api"} 3`)
}
