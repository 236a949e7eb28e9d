package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestBodyGuards: a JSON API refuses other body types (415), malformed
// JSON and structure bombs (400 with a JSON pointer to the place), and
// passes well-formed bodies, chunked or not, to the upstream intact.
func TestBodyGuards(t *testing.T) {
	up := startUpstream(t, "orders")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  orders: {targets: [{url: %s}]}
policies:
  json-api:
    authenticate: []
    validate:
      max_body_bytes: 64KiB
      content_types: [application/json, application/xml]
      json: {max_depth: 8, max_keys: 50, max_array: 100, max_string: 1KiB}
      xml: {max_depth: 8, max_elements: 100}
routes:
  - {name: orders, match: {paths: ["/orders"], methods: [GET, POST]}, upstream: orders, policy: json-api}
`, up.url()))
	post := func(ct, body string) response {
		return do(t, client, "POST", g.url("/orders"), strings.NewReader(body), map[string]string{"Content-Type": ct})
	}
	good := `{"order": {"sku": "SELECT-123", "email": "ada@example.com", "qty": 2, "items": [1, 2, 3], "blob": "aGVsbG8gd29ybGQ="}}`
	if r := post("application/json; charset=utf-8", good); r.status != 200 || echoOf(t, r).BodyBytes != int64(len(good)) {
		t.Fatalf("a good body: %d %s", r.status, r.body)
	}
	if r := get(t, g.url("/orders")); r.status != 200 {
		t.Fatalf("a GET without a body: %d", r.status)
	}
	// Chunked: checked, then sent upstream whole.
	raw := rawRequest(t, g.http, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+
		"7\r\n{\"a\": 1\r\n1\r\n}\r\n0\r\n\r\n")
	if !strings.HasPrefix(raw, "HTTP/1.1 200") || !strings.Contains(raw, `"body_bytes": 8`) {
		t.Fatalf("a chunked good body: %q", tail(raw, 300))
	}
	if p := problemOf(t, post("application/x-www-form-urlencoded", "a=1"), 415); p["type"] != "tag:rampart-gw.github.io,2026:problems/unsupported-media-type" {
		t.Fatalf("a form body: %v", p)
	}
	for _, tc := range []struct{ name, body, location string }{
		{"a form body labelled JSON", "a=1&b=2", "#"},
		{"a depth bomb", strings.Repeat("[", 5000) + strings.Repeat("]", 5000), "#/0/0/0/0/0/0/0/0"},
		{"duplicate keys", `{"role": "user", "role": "admin"}`, "#/role"},
		{"too many keys", manyKeys(60), "#/k50"},
		{"a long string", `{"note": "` + strings.Repeat("x", 2000) + `"}`, "#/note"},
		{"invalid UTF-8", "{\"a\": \"\xff\xfe\"}", "#"},
	} {
		r := post("application/json", tc.body)
		p := problemOf(t, r, 400)
		errs, _ := p["errors"].([]any)
		if p["type"] != "tag:rampart-gw.github.io,2026:problems/invalid-body" || len(errs) != 1 || errs[0].(map[string]any)["location"] != tc.location {
			t.Errorf("%s: %v", tc.name, p)
		}
	}
	// XML: a good document passes; a DTD (billion laughs, XXE) never does.
	if r := post("application/xml", `<order id="1"><item sku="a">2</item></order>`); r.status != 200 {
		t.Fatalf("a good XML body: %d %s", r.status, r.body)
	}
	for _, tc := range []struct{ name, body, location string }{
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol1;</lolz>`, "/"},
		{"XXE", `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>`, "/"},
		{"deep XML", strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20), "/a/a/a/a/a/a/a/a/a"},
		{"XInclude", `<foo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" href="file:///etc/passwd"/></foo>`, "/foo"},
	} {
		p := problemOf(t, post("application/xml", tc.body), 400)
		errs, _ := p["errors"].([]any)
		if p["type"] != "tag:rampart-gw.github.io,2026:problems/invalid-body" || len(errs) != 1 || errs[0].(map[string]any)["location"] != tc.location {
			t.Errorf("%s: %v", tc.name, p)
		}
	}
	// An empty body labelled JSON is no JSON document (Content-Length: 0).
	for _, ct := range []string{"application/json", "application/xml"} {
		p := problemOf(t, post(ct, ""), 400)
		if errs, _ := p["errors"].([]any); p["type"] != "tag:rampart-gw.github.io,2026:problems/invalid-body" || len(errs) != 1 || errs[0].(map[string]any)["location"] != "body" {
			t.Errorf("an empty %s body: %v", ct, p)
		}
	}
	if r := post("application/json", `{"a": "`+strings.Repeat("x", 70<<10)+`"}`); r.status != 413 {
		t.Fatalf("over the body limit: %d", r.status)
	}
}

// manyKeys is a JSON object with n keys k0, k1, ...
func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d": 1`, i)
	}
	return "{" + strings.Join(keys, ", ") + "}"
}
