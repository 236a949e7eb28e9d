package identity

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/rampart-gw/rampart/internal/reqctx"
)

// verify checks an assertion as an upstream would: against the JWKS.
func verify(t *testing.T, s *Signer, tok string, now time.Time) jwt.Token {
	t.Helper()
	rec := httptest.NewRecorder()
	s.JWKS().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	set, err := jwk.Parse(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(set), jwt.WithIssuer("rampart"), jwt.WithAudience("orders"),
		jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })))
	if err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	return parsed
}

func TestSignerAssertions(t *testing.T) {
	now := time.Now()
	s, err := NewSigner(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	alice := &reqctx.Identity{Consumer: "alice", Authenticator: "idp", Method: "oidc", Scopes: []string{"a", "b"},
		ExpiresAt: now.Add(30 * time.Second)}
	tok, err := s.Sign(alice, "a b", "rampart", "orders", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	claims := verify(t, s, tok, now)
	if sub, _ := claims.Subject(); sub != "alice" {
		t.Fatalf("sub %q", sub)
	}
	if exp, _ := claims.Expiration(); exp.After(alice.ExpiresAt) {
		t.Fatalf("assertion outlives the credential: exp %v, credential %v", exp, alice.ExpiresAt)
	}
	var scope string
	if err := claims.Get("scope", &scope); err != nil || scope != "a b" {
		t.Fatalf("scope %q %v", scope, err)
	}

	for _, tc := range []struct {
		name  string
		id    *reqctx.Identity
		scope string
		same  bool
	}{
		{"same identity", alice, "a b", true},
		{"fewer scopes", &reqctx.Identity{Consumer: "alice", Authenticator: "idp", Method: "oidc", Scopes: []string{"a"}}, "a", false},
		{"other consumer", &reqctx.Identity{Consumer: "bob", Authenticator: "idp", Method: "oidc", Scopes: []string{"a", "b"}}, "a b", false},
		{"other authenticator", &reqctx.Identity{Consumer: "alice", Authenticator: "keys", Method: "api_key", Scopes: []string{"a", "b"}}, "a b", false},
		{"roles", &reqctx.Identity{Consumer: "alice", Authenticator: "idp", Method: "oidc", Scopes: []string{"a", "b"}, Roles: []string{"admin"}}, "a b", false},
	} {
		got, err := s.Sign(tc.id, tc.scope, "rampart", "orders", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if (got == tok) != tc.same {
			t.Fatalf("%s: reused %v, want %v", tc.name, got == tok, tc.same)
		}
	}

	// Past half its lifetime the assertion is signed afresh.
	now = now.Add(31 * time.Second)
	bob := &reqctx.Identity{Consumer: "bob", Authenticator: "idp", Method: "oidc"}
	first, _ := s.Sign(bob, "", "rampart", "orders", time.Minute)
	now = now.Add(31 * time.Second)
	if again, _ := s.Sign(bob, "", "rampart", "orders", time.Minute); again == first {
		t.Fatal("assertion reused past half its lifetime")
	}
}

// TestSignerRotatesOnce: requests that find the key due together rotate
// it once, so the key that signed a moment ago stays published.
func TestSignerRotatesOnce(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	s, err := NewSigner(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	id := &reqctx.Identity{Consumer: "alice", Authenticator: "idp", Method: "oidc"}
	signedAt := now
	before, _ := s.Sign(id, "", "rampart", "orders", time.Minute)
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			other := &reqctx.Identity{Consumer: "c" + string(rune('0'+i)), Authenticator: "idp", Method: "oidc"}
			if _, err := s.Sign(other, "", "rampart", "orders", time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	verify(t, s, before, signedAt) // signed by the previous key, still published
}

// TestStageHeaders: the stage removes the client's credentials (unless
// the route forwards them) and sets the three identity fields for the
// upstream; an anonymous request gets none of them.
func TestStageHeaders(t *testing.T) {
	signer, err := NewSigner(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	alice := &reqctx.Identity{Consumer: "alice", Authenticator: "idp", Method: "jwt", Scopes: []string{"a", "b"}}
	for _, tc := range []struct {
		name     string
		id       *reqctx.Identity
		forward  bool
		wantAuth bool
		fields   []string
	}{
		{"authenticated", alice, false, false, []string{HeaderConsumer, HeaderScopes, HeaderAssertion}},
		{"forwarded credentials", alice, true, true, []string{HeaderConsumer, HeaderScopes, HeaderAssertion}},
		{"no scopes", &reqctx.Identity{Consumer: "bob", Authenticator: "keys", Method: "api_key"}, false, false, []string{HeaderConsumer, HeaderAssertion}},
		{"anonymous", nil, false, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *http.Request
			h := (&Stage{Signer: signer, Issuer: "rampart", Audience: "orders", TTL: time.Minute, ForwardAuthorization: tc.forward}).
				Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r }))
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer abc")
			r.Header.Set("DPoP", "proof")
			st := &reqctx.State{Identity: tc.id}
			h.ServeHTTP(httptest.NewRecorder(), r.WithContext(reqctx.With(r.Context(), st)))
			if has := got.Header.Get("Authorization") != "" && got.Header.Get("DPoP") != ""; has != tc.wantAuth {
				t.Errorf("credentials forwarded: %v, want %v", has, tc.wantAuth)
			}
			var names []string
			for _, f := range st.UpstreamHeader {
				names = append(names, f.Name)
			}
			if !slices.Equal(names, tc.fields) {
				t.Fatalf("upstream fields %v, want %v", names, tc.fields)
			}
			if tc.id == nil {
				return
			}
			if v, _ := st.UpstreamValues(HeaderConsumer); len(v) != 1 || v[0] != tc.id.Consumer {
				t.Errorf("consumer %v", v)
			}
			if v, ok := st.UpstreamValues(HeaderScopes); ok && (len(v) != 1 || v[0] != "a b") {
				t.Errorf("scopes %v", v)
			}
			v, _ := st.UpstreamValues(HeaderAssertion)
			if sub, _ := verify(t, signer, v[0], time.Now()).Subject(); sub != tc.id.Consumer {
				t.Errorf("assertion sub %q", sub)
			}
		})
	}
}

// BenchmarkStage is the stage's steady state: a cached assertion for a
// consumer with two scopes.
func BenchmarkStage(b *testing.B) {
	signer, err := NewSigner(time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	h := (&Stage{Signer: signer, Issuer: "rampart", Audience: "orders", TTL: time.Minute}).
		Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	id := &reqctx.Identity{Consumer: "alice", Authenticator: "idp", Method: "jwt", Scopes: []string{"items:read", "items:write"}, Roles: []string{"reader"}}
	r := httptest.NewRequest("GET", "/", nil)
	st := &reqctx.State{}
	r = r.WithContext(reqctx.With(r.Context(), st))
	auth := []string{"Bearer abc"}
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"] = auth
		*st = reqctx.State{Identity: id}
		h.ServeHTTP(nil, r)
	}
}
