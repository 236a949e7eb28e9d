package jwks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// idp serves a JWKS whose key ids the test changes, and counts fetches.
type idp struct {
	mu      sync.Mutex
	kids    []string
	down    bool
	fetches atomic.Int32
}

func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.fetches.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		http.Error(w, "down", http.StatusBadGateway)
		return
	}
	set := jwk.NewSet()
	for _, kid := range p.kids {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		jk, _ := jwk.Import(&k.PublicKey)
		_ = jk.Set(jwk.KeyIDKey, kid)
		_ = set.AddKey(jk)
	}
	_ = json.NewEncoder(w).Encode(set)
}

func (p *idp) set(down bool, kids ...string) {
	p.mu.Lock()
	p.down, p.kids = down, kids
	p.mu.Unlock()
}

func TestRotationAndRateLimitedRefetch(t *testing.T) {
	p := &idp{kids: []string{"k1"}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	s := New(Options{Name: "t", JWKSURI: srv.URL, Refresh: time.Hour, StaleFor: time.Hour, Timeout: time.Second, MinRefetch: 200 * time.Millisecond})
	s.Start()
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Lookup(ctx, "k1"); err != nil {
		t.Fatalf("cold lookup: %v", err)
	}
	p.set(false, "k1", "k2")
	// Random kids right after a fetch do not reach the IdP.
	before := p.fetches.Load()
	for i := 0; i < 50; i++ {
		if _, err := s.Lookup(ctx, "random"); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("random kid: %v", err)
		}
	}
	if n := p.fetches.Load() - before; n > 1 {
		t.Fatalf("50 unknown kids caused %d fetches", n)
	}
	time.Sleep(250 * time.Millisecond)
	if _, err := s.Lookup(ctx, "k2"); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
}

func TestStaleKeysThenUnavailable(t *testing.T) {
	p := &idp{kids: []string{"k1"}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	s := New(Options{Name: "t", JWKSURI: srv.URL, Refresh: time.Hour, StaleFor: time.Hour, Timeout: time.Second})
	now := time.Now()
	s.now = func() time.Time { return now }
	s.Start()
	defer s.Close()
	if _, err := s.Lookup(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	p.set(true)
	now = now.Add(59 * time.Minute)
	if _, err := s.Lookup(context.Background(), "k1"); err != nil {
		t.Fatalf("keys within stale_for: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.Lookup(context.Background(), "k1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("keys past stale_for with the IdP down: %v", err)
	}
}

func TestDiscoveryIssuerMustMatch(t *testing.T) {
	p := &idp{kids: []string{"k1"}}
	mux := http.NewServeMux()
	var srv *httptest.Server
	claimed := ""
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": claimed, "jwks_uri": srv.URL + "/keys"})
	})
	mux.Handle("/keys", p)
	srv = httptest.NewServer(mux)
	defer srv.Close()
	for _, tt := range []struct {
		claimed string
		ok      bool
	}{{srv.URL, true}, {"https://evil.test", false}} {
		claimed = tt.claimed
		s := New(Options{Name: "t", Issuer: srv.URL, Discover: true, Refresh: time.Hour, StaleFor: time.Hour, Timeout: time.Second})
		s.Start()
		_, err := s.Lookup(context.Background(), "k1")
		s.Close()
		if (err == nil) != tt.ok {
			t.Fatalf("issuer %q: %v", tt.claimed, err)
		}
	}
}

func TestMaxAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "public, max-age=600": 10 * time.Minute, "no-store": time.Nanosecond, "max-age=x": 0} {
		if got := maxAge(in); got != want {
			t.Errorf("maxAge(%q) = %v, want %v", in, got, want)
		}
	}
}
