package e2e

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo runs `rampart demo` and tries what its banner offers.
func TestDemo(t *testing.T) {
	p := start(t, "demo")
	banner := regexp.MustCompile(`gateway on http://([0-9.:]+), echo upstream on http://[0-9.:]+, admin on http://([0-9.:]+)`)
	var m []string
	waitFor(t, 20*time.Second, "demo banner", func() bool {
		m = banner.FindStringSubmatch(p.stdout.String())
		return m != nil && strings.Contains(p.stdout.String(), "Press Ctrl-C")
	})
	gwURL, admURL := "http://"+m[1], "http://"+m[2]
	key := regexp.MustCompile(`X-API-Key: (rk_[a-z0-9_]+)`).FindStringSubmatch(p.stdout.String())
	if key == nil {
		t.Fatalf("no API key in the banner:\n%s", p.stdout.String())
	}
	for _, tc := range []struct {
		method, url string
		hdr         map[string]string
		status      int
	}{
		{"GET", gwURL + "/echo/hello", nil, 200},
		{"GET", gwURL + "/nope", nil, 404},
		{"DELETE", gwURL + "/echo/hello", nil, 405},
		{"GET", gwURL + "/customers/42", nil, 200},
		{"GET", gwURL + "/orders/ord_1", nil, 401},
		{"GET", gwURL + "/orders/ord_1", map[string]string{"X-API-Key": key[1]}, 200},
		{"GET", gwURL + "/portal/", nil, 200},
		{"GET", gwURL + "/portal/apis/orders", nil, 200},
		{"GET", gwURL + "/portal/api/me", map[string]string{"X-API-Key": key[1]}, 200},
		{"GET", admURL + "/dashboard", nil, 200},
		{"GET", admURL + "/dashboard/api/data", nil, 200},
		{"GET", admURL + "/config/status", nil, 200},
	} {
		if r := do(t, client, tc.method, tc.url, nil, tc.hdr); r.status != tc.status {
			t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.url, r.status, tc.status, r.body)
		}
	}
	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("demo exited %d", code)
	}
}
