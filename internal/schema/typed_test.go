package schema

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

const ordersSpec = `openapi: 3.0.3
info: {title: orders, version: "1"}
paths:
  /orders:
    get:
      parameters:
        - {name: limit, in: query, schema: {type: integer, maximum: 100}}
        - {name: status, in: query, schema: {type: array, items: {type: string}}}
      responses: {"200": {description: ok}}
    post:
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                id: {type: string, format: uuid}
                customer_email: {type: string, format: email}
                website: {type: string, format: uri}
                created: {type: string, format: date-time}
                status: {type: string, enum: [open, shipped]}
                express: {type: boolean}
                note: {type: string}
                coupon: {type: string, pattern: "^[A-Z0-9-]+$"}
                sku: {type: string, pattern: "^[A-Z]{3}-[0-9]{4}$", x-rampart-waf: trusted}
                any: {oneOf: [{type: integer}, {type: string}]}
                "a.b": {type: integer}
                lines:
                  type: array
                  items:
                    type: object
                    properties:
                      quantity: {type: integer}
                      unit_price: {type: number}
                      name: {type: string}
                tags: {type: array, items: {type: string, format: uuid}}
      responses: {"201": {description: created}}
`

func ordersStage(t *testing.T) *Stage {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(ordersSpec))
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: "/"}}
	s, err := New(doc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTyped: the fields a validated body proves typed are those of a
// type, enum or format no injection fits; strings without such a format,
// patterned strings the operator did not mark trusted and unions stay
// for the WAF.
func TestTyped(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(ordersSpec))
	if err != nil {
		t.Fatal(err)
	}
	got := Typed(doc.Paths.Find("/orders").Post.RequestBody.Value.Content.Get("application/json").Schema)
	want := []string{`["a.b"]`, "created", "express", "id", "lines[*].quantity", "lines[*].unit_price", "sku", "status", "tags[*]"}
	if !slices.Equal(got, want) {
		t.Errorf("Typed = %q\nwant    %q", got, want)
	}
	if _, err := fieldpath.Compile(got); err != nil {
		t.Errorf("the patterns do not compile: %v", err)
	}
}

// TestValidationGaps: formats are enforced (uuid, email, uri), a
// single-valued query parameter sent twice is refused, as is a body with
// a duplicate key; a valid body leaves the WAF its untyped fields only.
func TestValidationGaps(t *testing.T) {
	s := ordersStage(t)
	var seen *reqctx.State
	h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = reqctx.From(r.Context()) }))
	serve := func(method, target, body string) (int, []problem.FieldError) {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), MaxBodyBytes: 1 << 20, Events: observe.NewBus(nil, nil, nil)}
		rec := httptest.NewRecorder()
		seen = nil
		h.ServeHTTP(rec, r.WithContext(reqctx.With(r.Context(), st)))
		var p struct {
			Errors []problem.FieldError `json:"errors"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		return rec.Code, p.Errors
	}
	valid := `{"id":"6f1c1c8e-3f7a-4c6e-9a59-2b1b1e0d5a11","customer_email":"ada@example.com","website":"https://example.com/a","created":"2026-12-05T10:00:00Z",` +
		`"status":"open","express":true,"note":"Leave it with the neighbour","lines":[{"quantity":2,"unit_price":9.5,"name":"Widget"}]}`
	if code, errs := serve("POST", "/orders", valid); code != 200 || seen == nil || seen.TypedFields == nil {
		t.Fatalf("a valid order: %d %v", code, errs)
	}
	out, _, err := fieldpath.Rewrite([]byte(valid), &fieldpath.Edits{Remove: seen.TypedFields}, nil)
	if err != nil || string(out) != `{"customer_email":"ada@example.com","website":"https://example.com/a","note":"Leave it with the neighbour","lines":[{"name":"Widget"}]}` {
		t.Errorf("what the WAF reads: %s %v", out, err)
	}
	for _, tc := range []struct{ name, method, target, body, where string }{
		{"not a uuid", "POST", "/orders", `{"id":"1' OR '1'='1"}`, "body#/id"},
		{"not an e-mail address", "POST", "/orders", `{"customer_email":"ada at example"}`, "body#/customer_email"},
		{"an e-mail address with a display name", "POST", "/orders", `{"customer_email":"Ada <ada@example.com>"}`, "body#/customer_email"},
		{"not a URI", "POST", "/orders", `{"website":"javascript alert(1)"}`, "body#/website"},
		{"not a date-time", "POST", "/orders", `{"created":"yesterday"}`, "body#/created"},
		{"a duplicate key", "POST", "/orders", `{"status":"open","status":"x' OR 1=1"}`, "body#/status"},
		{"a single-valued parameter twice", "GET", "/orders?limit=5&limit=500", "", "query.limit"},
	} {
		code, errs := serve(tc.method, tc.target, tc.body)
		if code != 400 || !slices.ContainsFunc(errs, func(e problem.FieldError) bool { return e.Location == tc.where }) {
			t.Errorf("%s: %d %v, want 400 at %s", tc.name, code, errs, tc.where)
		}
	}
	if code, errs := serve("GET", "/orders?status=open&status=shipped&limit=5", ""); code != 200 {
		t.Errorf("an array parameter repeated: %d %v", code, errs)
	}
}
