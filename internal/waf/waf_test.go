package waf

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// TestCRS runs the real Core Rule Set at paranoia 1: attacks are
// interrupted, a legitimate JSON API request is not, and an exclusion
// lets a known false positive through.
func TestCRS(t *testing.T) {
	w, err := New(Options{Paranoia: 1, Threshold: 5, BodyLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s := &Stage{WAF: w}
	check := func(method, target, ct, body string) bool {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		r.Header.Set("User-Agent", "rampart-test/1.0")
		r.Header.Set("Accept", "application/json")
		st := &reqctx.State{ClientIP: netip.MustParseAddr("192.0.2.1")}
		r = r.WithContext(reqctx.With(r.Context(), st))
		tx := w.NewTransaction()
		defer tx.Close()
		it, answered := s.inspect(tx, httptest.NewRecorder(), r)
		if answered {
			t.Fatal("reading the body answered the request")
		}
		return it != nil
	}
	for _, tc := range []struct {
		name, method, target, ct, body string
		blocked                        bool
	}{
		{"sqli in query", "GET", "/items?id=1%27%20OR%20%271%27%3D%271", "", "", true},
		{"xss in query", "GET", "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "", "", true},
		{"traversal in query", "GET", "/files?name=..%2F..%2F..%2Fetc%2Fpasswd", "", "", true},
		{"command injection", "GET", "/ping?host=127.0.0.1%3Bcat%20%2Fetc%2Fpasswd", "", "", true},
		{"sqli in JSON", "POST", "/orders", "application/json", `{"note": "1' UNION SELECT password FROM users--"}`, true},
		{"a legitimate JSON order", "POST", "/orders", "application/json",
			`{"sku": "SELECT-123", "email": "ada@example.com", "name": "O'Brien", "blob": "aGVsbG8gd29ybGQ=", "items": [{"qty": 2}]}`, false},
		{"a plain GET", "GET", "/orders?limit=10&sort=-created", "", "", false},
	} {
		if got := check(tc.method, tc.target, tc.ct, tc.body); got != tc.blocked {
			t.Errorf("%s: blocked %v, want %v", tc.name, got, tc.blocked)
		}
	}
	if d := Directives(Options{Paranoia: 2, Threshold: 7, Exclusions: []Exclusion{{Rule: 942100}, {Rule: 941100, Target: "ARGS:json.note"}}}); !strings.Contains(d, "SecRuleRemoveById 942100") ||
		!strings.Contains(d, `SecRuleUpdateTargetById 941100 "!ARGS:json.note"`) || !strings.Contains(d, "blocking_paranoia_level=2") ||
		strings.Index(d, "SecRuleRemoveById") < strings.Index(d, "Include @owasp_crs") {
		t.Errorf("directives:\n%s", d)
	}
}
