// Package dpoptest is a DPoP client for tests: a key pair whose
// thumbprint goes into a token's cnf.jkt, and proofs signed with it.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/rampart-gw/rampart/internal/identity"
)

// Client is a DPoP client key: it signs proofs, and its thumbprint is
// what a bound token's cnf.jkt carries.
type Client struct {
	alg  string
	priv crypto.Signer
	JWK  map[string]any // the public key as the proof's jwk header carries it
	JKT  string
}

// NewClient makes a client key for alg (ES256, EdDSA or RS256).
func NewClient(t testing.TB, alg string) *Client {
	var priv crypto.Signer
	switch alg {
	case "ES256":
		priv, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, _ = ed25519.GenerateKey(rand.Reader)
	case "RS256", "RS256-1024":
		bits := 2048
		if alg == "RS256-1024" {
			bits, alg = 1024, "RS256"
		}
		priv, _ = rsa.GenerateKey(rand.Reader, bits)
	}
	if rk, ok := priv.(*rsa.PrivateKey); ok && rk.N.BitLen() < 2048 {
		// jwx will not even import it; write the JWK and its RFC 7638
		// thumbprint by hand.
		b64 := base64.RawURLEncoding
		n, e := b64.EncodeToString(rk.N.Bytes()), b64.EncodeToString([]byte{1, 0, 1})
		sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
		return &Client{alg: alg, priv: priv, JWK: map[string]any{"kty": "RSA", "n": n, "e": e}, JKT: b64.EncodeToString(sum[:])}
	}
	k, err := jwk.Import(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(k)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	tp, _ := k.Thumbprint(crypto.SHA256)
	return &Client{alg: alg, priv: priv, JWK: m, JKT: base64.RawURLEncoding.EncodeToString(tp)}
}

func (c *Client) sign(input []byte) []byte {
	switch p := c.priv.(type) {
	case *ecdsa.PrivateKey:
		sig, _ := identity.SignES256AsIs(p, input)
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(p, input)
	case *rsa.PrivateKey:
		h := sha256.Sum256(input)
		sig, _ := rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, h[:])
		return sig
	}
	return nil
}

// Proof signs a proof for method and url carrying token, with the
// header and claims changed by edit (a nil value deletes a member).
func (c *Client) Proof(method, url, token string, now time.Time, edit map[string]any) string {
	sum := sha256.Sum256([]byte(token))
	hdr := map[string]any{"typ": "dpop+jwt", "alg": c.alg, "jwk": c.JWK}
	claims := map[string]any{"htm": method, "htu": url, "iat": now.Unix(), "jti": base64.RawURLEncoding.EncodeToString(randBytes(12)),
		"ath": base64.RawURLEncoding.EncodeToString(sum[:])}
	for k, v := range edit {
		target := claims
		if name, ok := strings.CutPrefix(k, "hdr."); ok {
			target, k = hdr, name
		}
		if v == nil {
			delete(target, k)
		} else {
			target[k] = v
		}
	}
	b64 := base64.RawURLEncoding
	hb, _ := json.Marshal(hdr)
	cb, _ := json.Marshal(claims)
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	return input + "." + b64.EncodeToString(c.sign([]byte(input)))
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
