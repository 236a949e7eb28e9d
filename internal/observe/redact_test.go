package observe

import "testing"

func TestRedactorCredentials(t *testing.T) {
	r := NewRedactor(nil)
	tests := []struct {
		name, raw, want string
	}{
		{"built-in name", "api_key=s3cret&page=2", "api_key=[redacted]&page=2"},
		{"nothing secret", "page=2&sort=asc", "page=2&sort=asc"},
		{"operator's name, not yet set", "ak=s3cret&page=2", "ak=s3cret&page=2"},
	}
	for _, tt := range tests {
		if got := r.Query(tt.raw); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	r.SetCredentials([]string{"ak"}, []string{"x-partner"})
	for _, tt := range []struct {
		name, raw, want string
	}{
		{"operator's name", "ak=s3cret&page=2", "ak=[redacted]&page=2"},
		{"any case, encoded", "A%4B=s3cret", "A%4B=[redacted]"},
		{"a longer name holding it", "akx=1&back=2", "akx=1&back=2"},
		{"email in a value", "to=jane@example.com", "to=j***@example.com"},
	} {
		if got := r.Query(tt.raw); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if r.Header("X-Partner", "k") != Redacted || r.Header("Authorization", "Bearer x") != Redacted || r.Header("Accept", "json") != "json" {
		t.Error("headers")
	}
	r.SetCredentials(nil, nil) // a reload that drops them
	if r.Query("ak=1") != "ak=1" || r.Header("X-Partner", "k") != "k" {
		t.Error("credentials outlived the config that named them")
	}
}
