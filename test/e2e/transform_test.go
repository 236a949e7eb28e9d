package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTransform: through the binary, the upstream gets the request as the
// route's transform makes it (who is calling from the consumer record,
// never from the client; fields a client must not set removed; names
// renamed; a GET turned into a POST with a JSON body), a value the request
// lacks refuses it before the upstream sees anything, and the client gets
// the response edited, its status mapped, and an upstream error page
// replaced by problem+json.
func TestTransform(t *testing.T) {
	var calls atomic.Int64
	up := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/v1/order/crash"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, "<pre>Traceback (most recent call last): orders.py line 42 psycopg2.OperationalError password=hunter2</pre>")
			return
		case strings.HasPrefix(r.URL.Path, "/api/v1/order/busy"):
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(502)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Legacy-Node", "db-7")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body),
			"tenant": r.Header.Get("X-Tenant"), "caller": r.Header.Get("X-Caller"), "debug": r.Header.Get("X-Debug"),
			"order_status": "shipped", "internal_notes": "customer is difficult",
			"items": []map[string]any{{"sku": "a", "cost_price": 3}},
		})
	}))
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
store: {driver: embedded, path: rampart.db}
authenticators:
  keys: {type: api_key, in: "header:X-API-Key"}
consumers:
  - {id: acme, attributes: {tenant: t-acme}}
upstreams:
  orders: {targets: [{url: "http://%[1]s"}]}
policies:
  partners: {authenticate: [keys], authorize: {any_authenticated: true}}
routes:
  - name: orders
    match: {paths: ["/orders/{id}"], methods: [GET, PUT]}
    upstream: orders
    policy: partners
    rewrite: {path: "/api/v1/order/{id}"}
    transform:
      request:
        headers:
          set: {X-Tenant: '{{ consumer.attributes.tenant | default "public" }}', X-Caller: "{{ consumer.id }}"}
          remove: [X-Debug]
        query: {rename: {fields: select}}
        body:
          set: {updated_by: "{{ consumer.id }}"}
          remove: [status]
          rename: {shipping.addr: shipping.address}
      response:
        headers: {remove: [X-Legacy-Node], set: {X-Api-Version: "2"}}
        body: {rename: {order_status: status}, remove: [internal_notes, "items[*].cost_price"]}
        status: {"502": 503}
        replace_errors: [5xx]
  - name: search
    match: {paths: ["/search"], methods: [GET]}
    upstream: orders
    policy: partners
    rewrite: {path: "/api/v1/search"}
    transform:
      request:
        method: POST
        query: {remove: [q]}
        body:
          set: {query: "{{ query.q }}"}
          set_json: {owner: '{"id": {{ consumer.id }}}'}
`, up))
	code, key, errs := g.cli("keys", "create", "--consumer", "acme")
	if code != 0 {
		t.Fatalf("keys create: %s", errs)
	}
	hdr := map[string]string{"X-API-Key": strings.TrimSpace(key)}
	waitFor(t, 10*time.Second, "the new key (store sync)", func() bool {
		return do(t, client, "GET", g.url("/orders/1"), nil, hdr).status == 200
	})
	call := func(method, path, body string, extra map[string]string) (response, map[string]any) {
		t.Helper()
		h := map[string]string{"Content-Type": "application/json"}
		for k, v := range hdr {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		r := do(t, client, method, g.url(path), rd, h)
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		return r, m
	}

	// The request as the transform makes it; the response as edited.
	r, m := call("PUT", "/orders/7?fields=a,b", `{"status":"refunded","updated_by":"mallory","shipping":{"addr":"1 Main St"},"n":1}`,
		map[string]string{"X-Tenant": "t-globex", "X-Caller": "mallory", "X-Debug": "1"})
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	if m["path"] != "/api/v1/order/7" || m["query"] != "select=a,b" || m["tenant"] != "t-acme" || m["caller"] != "acme" || m["debug"] != "" {
		t.Errorf("upstream saw %v", m)
	}
	if m["body"] != `{"updated_by":"acme","shipping":{"address":"1 Main St"},"n":1}` {
		t.Errorf("upstream body %v", m["body"])
	}
	if m["status"] != "shipped" || m["order_status"] != nil || m["internal_notes"] != nil || strings.Contains(string(r.body), "cost_price") {
		t.Errorf("response body not edited: %s", r.body)
	}
	if r.header.Get("X-Legacy-Node") != "" || r.header.Get("X-Api-Version") != "2" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("response headers %v", r.header)
	}

	// A body that is not JSON cannot slip past the edits.
	r, _ = call("PUT", "/orders/7", "status=refunded", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if r.status != 415 {
		t.Errorf("form body: %d %s", r.status, r.body)
	}

	// GET to POST with a body from the query; without q, refused before
	// the upstream.
	r, m = call("GET", "/search?q=red+shoes&page=2", "", nil)
	if r.status != 200 || m["method"] != "POST" || m["path"] != "/api/v1/search" || m["query"] != "page=2" ||
		m["body"] != `{"query":"red shoes","owner":{"id":"acme"}}` {
		t.Errorf("search: %d %v", r.status, m)
	}
	before := calls.Load()
	for _, q := range []string{"/search?page=2", "/search?q=a&q=b"} {
		r, m = call("GET", q, "", nil)
		if r.status != 400 || !strings.HasSuffix(fmt.Sprint(m["type"]), "/missing-value") || !strings.Contains(fmt.Sprint(m["detail"]), "query parameter q") {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	if n := calls.Load() - before; n != 0 {
		t.Errorf("refused requests reached the upstream %d times", n)
	}

	// Upstream errors: the stack trace never reaches the client.
	r, m = call("GET", "/orders/crash", "", nil)
	if r.status != 500 || r.header.Get("Content-Type") != "application/problem+json" || strings.Contains(string(r.body), "Traceback") ||
		strings.Contains(string(r.body), "hunter2") || !strings.HasSuffix(fmt.Sprint(m["type"]), "/upstream-error") || m["request_id"] == nil {
		t.Errorf("crash: %d %v %s", r.status, r.header, r.body)
	}
	r, m = call("GET", "/orders/busy", "", nil)
	if r.status != 503 || m["status"] != float64(503) || r.header.Get("Retry-After") != "7" {
		t.Errorf("busy: %d %v %s", r.status, r.header, r.body)
	}

	// The gateway's own refusals are its own, not replaced.
	r, m = call("GET", "/orders/1", "", map[string]string{"X-API-Key": "rk_wrong_key"})
	if r.status != 401 {
		t.Errorf("bad key: %d %v", r.status, m)
	}

	// Metrics count each outcome.
	metrics := do(t, client, "GET", "http://"+g.admin+"/metrics", nil, nil)
	for _, want := range []string{`rampart_transform_total{outcome="transformed",route="orders"}`, `rampart_transform_total{outcome="error_replaced",route="orders"} 2`,
		`rampart_transform_total{outcome="refused",route="search"} 2`} {
		if !strings.Contains(string(metrics.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
