package dpop

import (
	"crypto/tls"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authn/dpop/dpoptest"
)

func reason(err error) string {
	var f *authn.Failure
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &f) && f.Unavailable:
		return "unavailable:" + f.Reason
	case errors.As(err, &f):
		return f.Reason
	}
	return err.Error()
}

func TestProofs(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v := New(func() time.Time { return now })
	ec, ed, rs := dpoptest.NewClient(t, "ES256"), dpoptest.NewClient(t, "EdDSA"), dpoptest.NewClient(t, "RS256")
	weak := dpoptest.NewClient(t, "RS256-1024")
	other := dpoptest.NewClient(t, "ES256")
	const tok = "access-token"
	const url = "https://api.example.com/v1/orders"
	privJWK := map[string]any{}
	for k, val := range ec.JWK {
		privJWK[k] = val
	}
	privJWK["d"] = "AAAA"
	replayed := ec.Proof("GET", url, tok, now, nil)

	tests := []struct {
		name   string
		proofs []string
		jkt    string
		method string
		host   string
		tls    bool
		want   string
	}{
		{"ES256", []string{replayed}, ec.JKT, "", "", true, "ok"},
		{"the same proof again", []string{replayed}, ec.JKT, "", "", true, "dpop_replay"},
		{"EdDSA", []string{ed.Proof("GET", url, tok, now, nil)}, ed.JKT, "", "", true, "ok"},
		{"RS256", []string{rs.Proof("GET", url, tok, now, nil)}, rs.JKT, "", "", true, "ok"},
		{"query and fragment ignored, host case and default port normalised", []string{ec.Proof("GET", "HTTPS://API.example.com:443/v1/orders?x=1#f", tok, now, nil)}, ec.JKT, "", "", true, "ok"},
		{"no proof", nil, ec.JKT, "", "", true, "dpop_proof_missing"},
		{"two proofs", []string{ec.Proof("GET", url, tok, now, nil), ec.Proof("GET", url, tok, now, nil)}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"not a JWT", []string{"abc"}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"typ JWT", []string{ec.Proof("GET", url, tok, now, map[string]any{"hdr.typ": "JWT"})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"alg none", []string{ec.Proof("GET", url, tok, now, map[string]any{"hdr.alg": "none"})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"alg HS256", []string{ec.Proof("GET", url, tok, now, map[string]any{"hdr.alg": "HS256"})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"no jwk", []string{ec.Proof("GET", url, tok, now, map[string]any{"hdr.jwk": nil})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"private jwk", []string{ec.Proof("GET", url, tok, now, map[string]any{"hdr.jwk": privJWK})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"RSA under 2048 bits", []string{weak.Proof("GET", url, tok, now, nil)}, weak.JKT, "", "", true, "dpop_proof_invalid"},
		{"key other than the token's", []string{other.Proof("GET", url, tok, now, nil)}, ec.JKT, "", "", true, "dpop_key_mismatch"},
		{"signed by another key than its jwk", []string{other.Proof("GET", url, tok, now, map[string]any{"hdr.jwk": ec.JWK})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"crit", []string{ec.Proof("GET", url, tok, now, map[string]any{"hdr.crit": []string{"x"}})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"other method", []string{ec.Proof("POST", url, tok, now, nil)}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"other path", []string{ec.Proof("GET", "https://api.example.com/v1/admin", tok, now, nil)}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"other host", []string{ec.Proof("GET", "https://evil.example.com/v1/orders", tok, now, nil)}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"http proof over TLS", []string{ec.Proof("GET", "http://api.example.com/v1/orders", tok, now, nil)}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"https proof over plain http", []string{ec.Proof("GET", url, tok, now, nil)}, ec.JKT, "", "", false, "dpop_proof_invalid"},
		{"stale", []string{ec.Proof("GET", url, tok, now.Add(-MaxAge-time.Second), nil)}, ec.JKT, "", "", true, "dpop_proof_stale"},
		{"from the future", []string{ec.Proof("GET", url, tok, now.Add(Leeway+time.Second), nil)}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"iat as a string", []string{ec.Proof("GET", url, tok, now, map[string]any{"iat": "1800000000"})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"no jti", []string{ec.Proof("GET", url, tok, now, map[string]any{"jti": nil})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"no ath", []string{ec.Proof("GET", url, tok, now, map[string]any{"ath": nil})}, ec.JKT, "", "", true, "dpop_proof_invalid"},
		{"for another token", []string{ec.Proof("GET", url, "another-token", now, nil)}, ec.JKT, "", "", true, "dpop_proof_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/orders?x=1", nil)
			r.Host = "api.example.com"
			if !tt.tls {
				r.TLS = nil
			} else {
				r.TLS = &tls.ConnectionState{}
			}
			for _, p := range tt.proofs {
				r.Header.Add("DPoP", p)
			}
			err := v.Check(r, tok, tt.jkt)
			if got := reason(err); got != tt.want {
				t.Fatalf("%s, want %s (%v)", got, tt.want, err)
			}
			var f *authn.Failure
			if errors.As(err, &f) && !strings.Contains(f.Challenge, `error="invalid_dpop_proof"`) {
				t.Fatalf("challenge %q", f.Challenge)
			}
		})
	}
}

func TestReplayMemoryIsBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := now
	v := New(func() time.Time { return clock })
	v.size = 3
	c := dpoptest.NewClient(t, "ES256")
	check := func() string {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host, r.TLS = "api.example.com", &tls.ConnectionState{}
		r.Header.Set("DPoP", c.Proof("GET", "https://api.example.com/", "t", clock, nil))
		return reason(v.Check(r, "t", c.JKT))
	}
	for range 3 {
		if got := check(); got != "ok" {
			t.Fatal(got)
		}
	}
	// Full of fresh jtis: fail closed rather than forget one.
	if got := check(); got != "unavailable:dpop_replay_cache_full" {
		t.Fatal(got)
	}
	// Once they can no longer be fresh, they are forgotten.
	clock = clock.Add(MaxAge + Leeway + time.Second)
	if got := check(); got != "ok" {
		t.Fatal(got)
	}
}

// FuzzProof: no proof, however malformed, panics or passes without the
// client key.
func FuzzProof(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	c := dpoptest.NewClient(f, "ES256")
	f.Add(c.Proof("GET", "https://api.example.com/", "t", now, nil))
	f.Add("eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.")
	f.Add("..")
	v := New(func() time.Time { return now })
	f.Fuzz(func(t *testing.T, proof string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host, r.TLS = "api.example.com", &tls.ConnectionState{}
		r.Header.Set("DPoP", proof)
		_ = v.Check(r, "t", "not-the-thumbprint-of-any-key")
	})
}
