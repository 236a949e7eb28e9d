package waf

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/testenv"
)

// sqlError is a response leaking a database error (CRS 951220, MySQL).
const sqlError = "<html><body>Warning: You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1</body></html>"

// TestResponseInspection: with inspect_responses a response leaking an
// SQL error is withheld (502 response-withheld, no byte of it sent); a
// clean one passes byte for byte; the body is read up to the limit only;
// compressed bodies and the gateway's own answers are not inspected; in
// detect mode the leak passes and an event names the rule.
func TestResponseInspection(t *testing.T) {
	block, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20, Responses: true, ResponseBodyLimit: 4096})
	if err != nil {
		t.Fatal(err)
	}
	detect, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20, Responses: true, ResponseBodyLimit: 4096, Detect: true})
	if err != nil {
		t.Fatal(err)
	}
	padding := strings.Repeat("All is well. ", 400) // 5,200 bytes: past the limit
	for _, tc := range []struct {
		name       string
		detect     bool
		ct, ce     string
		body       string
		chunks     int  // write the body in this many pieces
		gateway    bool // the gateway's own answer
		withheld   bool
		event      bool
		outcomeKey string
	}{
		{name: "a clean page", ct: "text/html", body: "<html><body>Your order is on its way.</body></html>", outcomeKey: "passed"},
		{name: "an SQL error page", ct: "text/html", body: sqlError, withheld: true, outcomeKey: "response_blocked"},
		{name: "an SQL error in JSON", ct: "application/json", body: `{"error":"` + strings.ReplaceAll(sqlError[15:len(sqlError)-14], `'`, `\u0027`) + `"}`, withheld: true, outcomeKey: "response_blocked"},
		{name: "an SQL error written in pieces", ct: "text/html", body: sqlError, chunks: 7, withheld: true, outcomeKey: "response_blocked"},
		{name: "a leak in the first 4 KiB of a longer body", ct: "text/html", body: sqlError + padding, chunks: 3, withheld: true, outcomeKey: "response_blocked"},
		{name: "a leak past the limit passes (ProcessPartial)", ct: "text/html", body: padding + sqlError, chunks: 3, outcomeKey: "passed"},
		{name: "a compressed body is not read", ct: "text/html", ce: "gzip", body: sqlError, outcomeKey: "passed"},
		{name: "an image is not read", ct: "image/png", body: sqlError, outcomeKey: "passed"},
		{name: "the gateway's own answer", ct: "application/problem+json", body: sqlError, gateway: true, outcomeKey: "passed"},
		{name: "detect mode", detect: true, ct: "text/html", body: sqlError, event: true, outcomeKey: "response_detected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := block
			if tc.detect {
				w = detect
			}
			counts := map[string]int{}
			s := &Stage{WAF: w, Detect: tc.detect, Responses: true, ResponseBodyLimit: 4096, Gate: NewGate(1), Count: func(o string) { counts[o]++ }}
			h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.gateway {
					reqctx.From(r.Context()).Problem = "bad-gateway"
				}
				w.Header().Set("Content-Type", tc.ct)
				if tc.ce != "" {
					w.Header().Set("Content-Encoding", tc.ce)
				}
				w.WriteHeader(http.StatusOK)
				n := max(tc.chunks, 1)
				step := (len(tc.body) + n - 1) / n
				for i := 0; i < len(tc.body); i += step {
					if _, err := w.Write([]byte(tc.body[i:min(i+step, len(tc.body))])); err != nil {
						if !tc.withheld {
							t.Errorf("write: %v", err)
						}
						return
					}
				}
			}))
			ev := &testenv.Events{}
			bus := observe.NewBus([]observe.Sink{ev}, nil, nil)
			r := httptest.NewRequest("GET", "/orders/1", nil)
			r = r.WithContext(reqctx.With(r.Context(), &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), Events: bus}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			_ = bus.Close()
			if tc.withheld {
				var p map[string]any
				if rec.Code != http.StatusBadGateway || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p["type"] != "tag:rampart-gw.github.io,2026:problems/response-withheld" {
					t.Fatalf("got %d %s", rec.Code, rec.Body)
				}
				if strings.Contains(rec.Body.String(), "SQL") || rec.Header().Get("Content-Encoding") != "" {
					t.Errorf("the leak reached the client: %s", rec.Body)
				}
			} else if rec.Code != http.StatusOK || rec.Body.String() != tc.body {
				t.Errorf("changed: %d, %d bytes", rec.Code, rec.Body.Len())
			}
			if counts[tc.outcomeKey] != 1 {
				t.Errorf("counts %v, want one %s", counts, tc.outcomeKey)
			}
			var detected bool
			for _, e := range ev.Got() {
				if e.Type == "waf.detect" && strings.Contains(e.Rule, "951") {
					detected = true
				}
			}
			if detected != tc.event {
				t.Errorf("waf.detect event %v, want %v (%v)", detected, tc.event, ev.Got())
			}
			if len(s.Gate) != 0 {
				t.Error("a gate slot was kept")
			}
		})
	}
}

// TestResponseHeaderScore: a body the rules cannot read still goes through
// the body phase (with no body), where the outbound score is weighed: at
// paranoia 2 a 500 adds to it (rule 950100, a header rule) and the
// evaluation (959100) withholds the response, whatever its media type.
func TestResponseHeaderScore(t *testing.T) {
	w, err := New(Options{Paranoia: 2, Threshold: 5, BodyLimit: 1 << 20, Responses: true, ResponseBodyLimit: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{"text/html", "image/png"} {
		s := &Stage{WAF: w, Responses: true, ResponseBodyLimit: 4096}
		h := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("internal error"))
		}))
		r := httptest.NewRequest("GET", "/orders/1", nil)
		r = r.WithContext(reqctx.With(r.Context(), &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1"), Events: observe.NewBus(nil, nil, nil)}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "internal error") {
			t.Errorf("%s: %d %s, want the 500 withheld", ct, rec.Code, rec.Body)
		}
	}
}
