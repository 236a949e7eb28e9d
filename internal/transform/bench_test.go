package transform

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// benchOrder is a 1 KiB JSON order, as the bench's transformed POST sends.
const benchOrder = `{"coupon":"WINTER-2026","customer":{"email":"jane.doe@example.com","id":"c-8f14e45f","name":"Jane Doe"},"lines":[{"name":"Widget, brushed steel","quantity":1,"sku":"WID-0037","unit_price":12.5},{"name":"Widget, brushed steel","quantity":2,"sku":"WID-0074","unit_price":25},{"name":"Widget, brushed steel","quantity":3,"sku":"WID-0111","unit_price":37.5},{"name":"Widget, brushed steel","quantity":4,"sku":"WID-0148","unit_price":50},{"name":"Widget, brushed steel","quantity":5,"sku":"WID-0185","unit_price":62.5},{"name":"Widget, brushed steel","quantity":6,"sku":"WID-0222","unit_price":75}],"note":"Please leave the parcel with the neighbour at number 14 if nobody is home. Thanks! Thanks! Thanks! Thanks! Thanks! Thanks! Thanks! Thanks! Thanks! Thanks! Thanks!","shipping":{"city":"Bristol","country":"GB","postcode":"BS1 5DB","street":"12 Harbour Road"}}`

// BenchmarkStage is the bench's transformed POST without the network:
// request headers and body edited, response headers and body edited.
func BenchmarkStage(b *testing.B) {
	tr := &config.Transform{
		Request: &config.RequestTransform{
			Headers: &config.FieldEdits{Set: map[string]string{"X-Channel": "partner-{{ route.name }}"}, Remove: []string{"X-Debug"}},
			Body: &config.BodyEdits{Set: map[string]string{"source": "gateway", "meta.request": "{{ request.id }}"},
				Remove: []string{"customer.email"}, Rename: map[string]string{"shipping": "delivery"}},
		},
		Response: &config.ResponseTransform{
			Headers: &config.FieldEdits{Set: map[string]string{"X-Api-Version": "2"}},
			Body:    &config.BodyEdits{Rename: map[string]string{"page": "page_number"}, Remove: []string{"items[*].id"}},
		},
	}
	s, errs := compile("transform", tr, Context{Route: "transformed"})
	if len(errs) > 0 {
		b.Fatal(errs[0].err)
	}
	s.o.Count = func(string) {}
	reply := []byte(`{"items":[{"id":1,"name":"widget"},{"id":2,"name":"gadget"}],"page":2}` + "\n")
	h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(reply)
	}))
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/items", strings.NewReader(benchOrder))
		r.Header["Content-Type"] = []string{"application/json"}
		st := &reqctx.State{MaxBodyBytes: 1 << 20}
		st.RequestID, st.Route = "0123456789abcdef0123456789abcdef", "transformed"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), st)))
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body)
		}
	}
}
