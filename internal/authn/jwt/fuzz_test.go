package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/authn/jwks"
)

// staticKeys is a fixed key set, so the fuzzer exercises parsing and
// checking without a network.
type staticKeys map[string]jwks.Key

func (s staticKeys) Lookup(_ context.Context, kid string) (jwks.Key, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return jwks.Key{}, jwks.ErrUnknownKey
}

func FuzzAuthenticate(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	valid := token(map[string]any{"alg": "ES256", "kid": "ec1"}, claimsNow(now), es256(ec, false))
	a := New(Options{Name: "fuzz", Issuer: issuer, Audiences: []string{"orders"}, Algorithms: []string{"ES256", "RS256"},
		ClockSkew: time.Minute, ConsumerClaim: "sub", MaxTokenBytes: 8 << 10, Keys: staticKeys{"ec1": {ID: "ec1", Public: &ec.PublicKey}},
		Now: func() time.Time { return now }})
	f.Add(valid)
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lkcC50ZXN0In0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		id, err := a.Authenticate(request(tok))
		if err == nil && strings.TrimSpace(tok) != valid {
			t.Fatalf("accepted a token that is not the valid one: %q (%+v)", tok, id)
		}
	})
}
