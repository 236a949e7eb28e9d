package guard

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func TestValidHost(t *testing.T) {
	for host, want := range map[string]bool{
		"":                       true,
		"api.example.com":        true,
		"api.example.com:8443":   true,
		"127.0.0.1":              true,
		"127.0.0.1:80":           true,
		"[::1]":                  true,
		"[::1]:8080":             true,
		"[2001:db8::1]":          true,
		"under_score.internal":   true,
		"localhost/admin":        false,
		"a@b":                    false,
		"a\\b":                   false,
		"a b":                    false,
		"a%2fb":                  false,
		"host:":                  false,
		"host:port":              false,
		"host:123456":            false,
		"host:80:80":             false,
		"[::1":                   false,
		"[]":                     false,
		"[::1]x":                 false,
		"[::1]:":                 false,
		"[zz::1]":                false,
		":80":                    false,
		"a.example.com.evil?x=y": false,
	} {
		if got := ValidHost(host); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestHeaderRules(t *testing.T) {
	tests := []struct {
		name    string
		rules   Underscores
		header  map[string][]string
		host    string
		proto   int
		reason  string   // "" when the request passes
		dropped []string // names removed from a passing request
	}{
		{name: "plain", header: map[string][]string{"Accept": {"*/*"}, "X-Api-Version": {"2"}}},
		{name: "two Authorizations", header: map[string][]string{"Authorization": {"a", "b"}}, reason: "duplicate_header"},
		{name: "two Content-Types", header: map[string][]string{"Content-Type": {"a", "b"}}, reason: "duplicate_header"},
		{name: "two Cookies are fine", header: map[string][]string{"Cookie": {"a=1", "b=2"}}},
		{name: "invalid host", host: "localhost/admin", reason: "invalid_host"},
		{name: "h2 authority and Host disagree", proto: 2, host: "a", header: map[string][]string{"Host": {"b"}}, reason: "authority_host_mismatch"},
		{name: "h2 authority and Host agree", proto: 2, host: "a", header: map[string][]string{"Host": {"a"}}},
		{name: "X_Forwarded_For", header: map[string][]string{"X_forwarded_for": {"1.2.3.4"}}, reason: "ambiguous_header_name"},
		{name: "X-Rampart_Consumer", header: map[string][]string{"X-Rampart_consumer": {"admin"}}, reason: "ambiguous_header_name"},
		{name: "Transfer---Encoding", header: map[string][]string{"Transfer---Encoding": {"chunked"}}, reason: "ambiguous_header_name"},
		{name: "-Content-Length", header: map[string][]string{"-Content-Length": {"5"}}, reason: "ambiguous_header_name"},
		{name: "the API key header with _", header: map[string][]string{"X_api_key": {"k"}}, reason: "ambiguous_header_name"},
		{name: "X_Envoy_Original_Path", header: map[string][]string{"X_envoy_original_path": {"/admin"}}, reason: "ambiguous_header_name"},
		{name: "other underscore dropped", header: map[string][]string{"X_api_version": {"2"}, "Accept": {"*/*"}}, dropped: []string{"X_api_version"}},
		{name: "other underscore refused", rules: UnderscoresRefuse, header: map[string][]string{"X_api_version": {"2"}}, reason: "underscore_header"},
		{name: "other underscore passed", rules: UnderscoresPass, header: map[string][]string{"X_api_version": {"2"}}},
		{name: "a doubled hyphen elsewhere passes", header: map[string][]string{"X--Custom": {"1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = tt.host
			if tt.proto != 0 {
				r.ProtoMajor = tt.proto
			}
			r.Header = http.Header{}
			for k, v := range tt.header {
				r.Header[k] = v
			}
			got := NewHeaderRules(tt.rules, "X-Api-Key").Check(r)
			switch {
			case tt.reason == "" && got != nil:
				t.Fatalf("refused: %+v", got)
			case tt.reason != "" && (got == nil || got.Reason != tt.reason || got.Detail == ""):
				t.Fatalf("got %+v, want reason %s", got, tt.reason)
			}
			for _, d := range tt.dropped {
				if _, ok := r.Header[d]; ok {
					t.Errorf("%s not dropped", d)
				}
			}
			if tt.reason == "" && len(r.Header) != len(tt.header)-len(tt.dropped) {
				t.Errorf("header %v after the check", r.Header)
			}
		})
	}
}

// BenchmarkHeaderRules checks a typical API request's header.
func BenchmarkHeaderRules(b *testing.B) {
	h := NewHeaderRules(UnderscoresDrop, "X-Api-Key")
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "api.example.com"
	r.Header = http.Header{"Accept": {"application/json"}, "User-Agent": {"bench/1"}, "Authorization": {"Bearer x"},
		"X-Client-Version": {"4.2"}, "Accept-Encoding": {"gzip"}}
	b.ReportAllocs()
	for b.Loop() {
		if h.Check(r) != nil {
			b.Fatal("refused")
		}
	}
}

// FuzzValidHost: a host ValidHost accepts is one net/http accepts as a
// Host header, and one net/url reads as exactly that host: no user
// information, path, query or fragment hides in it.
func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"api.example.com:8443", "[::1]:80", "localhost/admin", "a@b", "[::1", "x:1:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !ValidHost(host) || host == "" {
			return
		}
		if !httpguts.ValidHostHeader(host) {
			t.Fatalf("%q: accepted, but not a valid Host header for net/http", host)
		}
		u, err := url.Parse("http://" + host + "/p")
		if err != nil {
			t.Fatalf("%q: accepted, but net/url refuses it: %v", host, err)
		}
		if u.Host != host || u.User != nil || u.Path != "/p" {
			t.Fatalf("%q: accepted, but net/url reads host %q path %q", host, u.Host, u.Path)
		}
	})
}
