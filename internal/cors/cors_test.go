package cors

import (
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
)

func TestAllowed(t *testing.T) {
	s := New(&config.CORS{AllowOrigins: []string{"https://app.example.com", "https://*.example.org", "http://*.dev.example.net:8080"}})
	for _, tc := range []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"https://APP.example.com", true}, // origins compare case-insensitively
		{"https://app.example.com:443", false},
		{"http://app.example.com", false},
		{"https://a.example.org", true},
		{"https://a.b.example.org", true},
		{"https://example.org", false},
		{"https://evilexample.org", false},
		{"https://example.org.evil.net", false},
		{"https://a.example.org:8443", false},
		{"http://x.dev.example.net:8080", true},
		{"http://x.dev.example.net", false},
		{"null", false},
		{"", false},
	} {
		if got := s.Allowed(tc.origin); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.origin, got, tc.want)
		}
	}
	if !New(&config.CORS{AllowOrigins: []string{"*"}}).Allowed("https://anything.example") {
		t.Error("* allows any origin")
	}
}
