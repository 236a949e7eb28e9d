package schema

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/testenv"
)

const itemsSpec = `openapi: 3.0.3
info: {title: items, version: "1"}
paths:
  /items/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: ok
          headers:
            X-Rate-Remaining: {schema: {type: integer}}
          content:
            application/json:
              schema:
                type: object
                required: [id, qty]
                properties:
                  id: {type: string}
                  qty: {type: integer, minimum: 0}
                  tags: {type: array, items: {type: string}}
        "404": {description: not found}
`

// TestResponseCheck: in detect mode a response that does not match the
// description is passed on byte for byte and reported, with the place
// that is wrong and never the value; matching ones are only counted.
func TestResponseCheck(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(itemsSpec))
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: "/"}}
	for _, tc := range []struct {
		name, ct, body, header string
		status                 int
		gateway                bool // the gateway answered itself
		outcome, where         string
	}{
		{name: "valid", ct: "application/json", body: `{"id":"a1","qty":3,"tags":["x"]}`, status: 200, outcome: "valid"},
		{name: "a field of the wrong type", ct: "application/json", body: `{"id":"a1","qty":"secret-value"}`, status: 200, outcome: "invalid", where: "body#/qty"},
		{name: "a required field missing", ct: "application/json", body: `{"id":"a1"}`, status: 200, outcome: "invalid", where: "body#/qty"},
		{name: "below a minimum", ct: "application/json", body: `{"id":"a1","qty":-1}`, status: 200, outcome: "invalid", where: "body#/qty"},
		{name: "an undocumented status", ct: "application/json", body: `{}`, status: 500, outcome: "invalid", where: "status"},
		{name: "an undocumented media type", ct: "text/html", body: `<p>secret-value</p>`, status: 200, outcome: "invalid", where: "content-type"},
		{name: "a documented header of the wrong type", ct: "application/json", body: `{"id":"a1","qty":1}`, header: "many", status: 200, outcome: "invalid", where: "header.X-Rate-Remaining"},
		{name: "a documented status without content", status: 404, outcome: "valid"},
		{name: "the gateway's own answer", ct: "application/problem+json", body: `{"status":502}`, status: 502, gateway: true, outcome: "unchecked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &testenv.Events{}
			bus := observe.NewBus([]observe.Sink{sink}, nil, nil)
			counts := map[string]int{}
			s, err := New(doc, Options{Responses: true, Count: func(o string) { counts[o]++ }})
			if err != nil {
				t.Fatal(err)
			}
			h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				st := reqctx.From(r.Context())
				if tc.gateway {
					st.Problem = "bad-gateway"
				} else {
					st.UpstreamStatus = tc.status
				}
				if tc.header != "" {
					w.Header().Set("X-Rate-Remaining", tc.header)
				}
				if tc.ct != "" {
					w.Header().Set("Content-Type", tc.ct)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			r := httptest.NewRequest("GET", "/items/a1", nil)
			st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), Events: bus}
			r = r.WithContext(reqctx.With(context.Background(), st))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			_ = bus.Close()
			if rec.Code != tc.status || rec.Body.String() != tc.body {
				t.Errorf("response changed: %d %q", rec.Code, rec.Body)
			}
			if counts[tc.outcome] != 1 {
				t.Errorf("counts = %v, want one %s", counts, tc.outcome)
			}
			if tc.outcome != "invalid" {
				if len(sink.Got()) != 0 {
					t.Errorf("events: %v", sink.Got())
				}
				return
			}
			if len(sink.Got()) != 1 {
				t.Fatalf("events: %v", sink.Got())
			}
			e := sink.Got()[0]
			if e.Type != "schema.response" || e.Status != tc.status || !strings.Contains(e.Detail, tc.where+": ") {
				t.Errorf("event: %+v", e)
			}
			if strings.Contains(e.Detail, "secret-value") {
				t.Errorf("the event copies the response: %s", e.Detail)
			}
		})
	}
}

// TestResponseCheckLimit: a body longer than ResponseLimit passes whole;
// its status and headers are still checked, its content is not.
func TestResponseCheckLimit(t *testing.T) {
	cw := &copyWriter{ResponseWriter: httptest.NewRecorder(), limit: 8}
	_, _ = cw.Write([]byte("12345"))
	_, _ = cw.Write([]byte("67890"))
	if !cw.over || cw.body.Len() != 0 || cw.status != 200 {
		t.Errorf("over=%v kept=%d status=%d", cw.over, cw.body.Len(), cw.status)
	}
	if got := cw.ResponseWriter.(*httptest.ResponseRecorder).Body.String(); got != "1234567890" {
		t.Errorf("passed on %q", got)
	}
}
