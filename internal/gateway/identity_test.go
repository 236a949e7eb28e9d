package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestIdentityHeadersFromClaims: the consumer id and scopes the upstream
// gets come from the token, which the client wrote; whatever they hold,
// the upstream gets exactly one X-Rampart-Consumer and one
// X-Rampart-Scopes header, and no header of the client's making.
func TestIdentityHeadersFromClaims(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	s := newJWTSetup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	tests := []struct {
		name                     string
		sub, scope               string
		wantConsumer, wantScopes string
	}{
		{"plain", "alice", "items:read", "alice", "items:read"},
		{"CRLF in sub", "alice\r\nX-Admin: 1", "items:read", "alice  X-Admin: 1", "items:read"},
		{"request in sub", "alice\r\n\r\nGET /admin HTTP/1.1\r\nHost: x", "items:read", "alice    GET /admin HTTP/1.1  Host: x", "items:read"},
		{"LF in scope", "alice", "items:read\nX-Admin:1", "alice", "X-Admin:1 items:read"}, // two scopes
		{"NUL and DEL", "al\x00ice\x7f", "items:read", "al ice", "items:read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://api.example.com/jwt/items", nil)
			req.RemoteAddr = "192.0.2.10:51234"
			req.Header.Set("Authorization", "Bearer "+s.token(map[string]any{"sub": tt.sub, "scope": tt.scope}))
			w := httptest.NewRecorder()
			s.g.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			mu.Lock()
			defer mu.Unlock()
			if got := seen["X-Rampart-Consumer"]; len(got) != 1 || got[0] != tt.wantConsumer {
				t.Errorf("X-Rampart-Consumer = %q, want [%q]", got, tt.wantConsumer)
			}
			if got := seen["X-Rampart-Scopes"]; len(got) != 1 || got[0] != tt.wantScopes {
				t.Errorf("X-Rampart-Scopes = %q, want [%q]", got, tt.wantScopes)
			}
			if seen.Get("X-Admin") != "" || len(seen["X-Rampart-Assertion"]) != 1 || seen.Get("Authorization") != "" {
				t.Errorf("upstream header: %v", seen)
			}
			for k := range seen {
				if strings.ContainsAny(k, " \r\n") {
					t.Errorf("header name %q reached the upstream", k)
				}
			}
		})
	}
}
