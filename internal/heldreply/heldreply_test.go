package heldreply

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

func TestWriter(t *testing.T) {
	// an upstream reply is held, within its bound
	rec := httptest.NewRecorder()
	st := &reqctx.State{}
	w := New(rec, st, 8)
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("X-Kept", "1")
	w.WriteHeader(200)
	if n, err := w.Write([]byte("12345")); n != 5 || err != nil || !w.Held() || rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("held: %d %v %v", n, err, rec.Body)
	}
	w.Header()[http.TrailerPrefix+"Grpc-Status"] = []string{"0"}
	w.WriteJSON([]byte(`{"a":1}`), "Grpc-")
	h := rec.Result().Header
	if rec.Body.String() != `{"a":1}` || h.Get("Content-Type") != "application/json" || h.Get("Content-Length") != "7" || h.Get("X-Kept") != "1" || len(rec.Result().Trailer) != 0 {
		t.Fatalf("answer: %v %q", h, rec.Body)
	}
	// over the bound: the write stops the copy
	w = New(httptest.NewRecorder(), st, 4)
	if _, err := w.Write([]byte("12345")); err != reqctx.ErrResponseReplaced || !w.Over {
		t.Fatalf("over: %v %v", err, w.Over)
	}
	// the gateway's own answer passes
	rec = httptest.NewRecorder()
	st.Problem = "bad-gateway"
	w = New(rec, st, 4)
	w.WriteHeader(502)
	_, _ = w.Write([]byte("problem body"))
	if w.Held() || rec.Code != 502 || rec.Body.String() != "problem body" {
		t.Fatalf("passing: %d %q", rec.Code, rec.Body)
	}
}

func TestRouteErrors(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(`version: 1
server: {listen: ["127.0.0.1:0"]}
upstreams:
  u: {targets: [{url: "http://127.0.0.1:9"}]}
routes:
  - {name: ok, match: {paths: ["/a"]}, upstream: u, policy: public, soap_operation: {endpoint: /ws, body: "<x/>"}}
  - name: all-wrong
    match: {paths: ["/b/**"]}
    upstream: u
    policy: public
    rewrite: {strip_prefix: /b}
    transform: {request: {method: PUT}}
    soap_operation: {endpoint: /ws, body: "<x/>"}
    graphql_operation: {query: "{ a }"}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if errs := RouteErrors(cfg, "routes[0]", cfg.Routes[0], "soap_operation", "envelope"); len(errs) != 0 {
		t.Fatalf("a plain route: %v", errs)
	}
	errs := RouteErrors(cfg, "routes[1]", cfg.Routes[1], "soap_operation", "envelope")
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"routes[1].rewrite", "routes[1].soap_operation: a route serves one protocol", "routes[1].transform.request: the request sent upstream is the envelope"} {
		if !strings.Contains(all, want) {
			t.Errorf("want %q in\n%s", want, all)
		}
	}
}
