// Package jwt is the jwt and oidc authenticator: a bearer JWT whose
// signature verifies against the issuer's JWKS and whose claims pass
// every check, with nothing taken from the token on trust.
//
// The token header is read by hand first, because every attack on JWT
// libraries lives there: alg is checked against the allow-list (none and
// HMAC never pass), crit, jku, x5u, x5c and an embedded jwk refuse the
// token, and the key comes from the configured JWKS only. The signature
// itself is checked by lestrrat-go/jwx with the algorithm we chose, after
// ECDSA signatures in their malleable high-S form are refused.
package jwt

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authn/jwks"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Keys finds a signing key by id; *jwks.Set implements it.
type Keys interface {
	Lookup(ctx context.Context, kid string) (jwks.Key, error)
}

// Options configures an Authenticator.
type Options struct {
	Name          string
	Method        string // jwt or oidc, for the identity
	Issuer        string
	Audiences     []string
	Algorithms    []string
	ClockSkew     time.Duration
	ConsumerClaim string
	MaxTokenBytes int
	CacheTTL      time.Duration
	CacheSize     int // default 10,000 tokens
	Keys          Keys
	Now           func() time.Time // default time.Now
}

// Authenticator verifies bearer JWTs.
type Authenticator struct {
	o     Options
	algs  map[string]jwa.SignatureAlgorithm
	cache *cache
}

// New returns an Authenticator. Algorithms must already be validated.
func New(o Options) *Authenticator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheSize == 0 {
		o.CacheSize = 10000
	}
	a := &Authenticator{o: o, algs: map[string]jwa.SignatureAlgorithm{}}
	for _, name := range o.Algorithms {
		if alg, ok := jwa.LookupSignatureAlgorithm(name); ok && name != "none" && !strings.HasPrefix(name, "HS") {
			a.algs[name] = alg
		}
	}
	if o.CacheTTL > 0 {
		a.cache = newCache(o.CacheSize)
	}
	return a
}

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.o.Name }

// Challenge implements authn.Authenticator.
func (a *Authenticator) Challenge() string { return `Bearer realm="rampart"` }

// Hint implements authn.Authenticator.
func (a *Authenticator) Hint() string { return "a bearer token in the Authorization header" }

// Authenticate implements authn.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (*reqctx.Identity, error) {
	tok := authn.BearerToken(r)
	if tok == "" {
		return nil, authn.ErrNoCredentials
	}
	if len(tok) > a.o.MaxTokenBytes {
		return nil, authn.Invalid("too_large", "the token is longer than this API accepts")
	}
	now := a.o.Now()
	var sum [32]byte
	if a.cache != nil {
		sum = sha256.Sum256([]byte(tok))
		if v, ok := a.cache.get(sum, now); ok {
			if err := checkBinding(v.cnf, r); err != nil {
				return nil, err
			}
			return v.identity(), nil
		}
	}
	v, err := a.verify(r.Context(), tok, now)
	if err != nil {
		return nil, err
	}
	if err := checkBinding(v.cnf, r); err != nil {
		return nil, err
	}
	if a.cache != nil {
		until := now.Add(a.o.CacheTTL)
		if v.id.ExpiresAt.Before(until) {
			until = v.id.ExpiresAt
		}
		a.cache.put(sum, v, until)
	}
	return v.identity(), nil
}

// verified is a token that passed every check, as cached.
type verified struct {
	id  reqctx.Identity
	cnf confirmation
}

// identity returns a copy the stage may change.
func (v *verified) identity() *reqctx.Identity {
	id := v.id
	id.Scopes = slices.Clone(v.id.Scopes)
	return &id
}

type confirmation struct {
	X5t string `json:"x5t#S256"`
	JKT string `json:"jkt"`
}

// header is the JOSE header, with the members we refuse kept as raw
// presence markers.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	JKU  json.RawMessage `json:"jku"`
	X5U  json.RawMessage `json:"x5u"`
	X5C  json.RawMessage `json:"x5c"`
	JWK  json.RawMessage `json:"jwk"`
	B64  json.RawMessage `json:"b64"`
}

type claims struct {
	Iss   string          `json:"iss"`
	Aud   json.RawMessage `json:"aud"`
	Exp   *json.Number    `json:"exp"`
	Nbf   *json.Number    `json:"nbf"`
	Iat   *json.Number    `json:"iat"`
	Scope string          `json:"scope"`
	Scp   json.RawMessage `json:"scp"`
	Cnf   *confirmation   `json:"cnf"`
}

var b64 = base64.RawURLEncoding

func (a *Authenticator) verify(ctx context.Context, tok string, now time.Time) (*verified, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, authn.Invalid("malformed", "the token is not a signed JWT (header.payload.signature)")
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, authn.Invalid("malformed", "the token is not valid base64url")
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, authn.Invalid("malformed", "the token header is not a JSON object")
	}
	var c claims
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, authn.Invalid("malformed", "the token claims are not a JSON object")
	}
	// The issuer is read before the signature only to tell whose token it
	// is: a token of another issuer may be for another authenticator.
	if c.Iss != a.o.Issuer {
		f := authn.Invalid("wrong_issuer", "the token was not issued by the expected issuer")
		f.Foreign = true
		return nil, f
	}
	if err := a.checkHeader(&h); err != nil {
		return nil, err
	}
	alg := a.algs[h.Alg]
	key, err := a.o.Keys.Lookup(ctx, h.Kid)
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return nil, authn.Invalid("unknown_key", "the token is not signed by a key of the issuer")
	case err != nil:
		return nil, authn.Unavailable("jwks_unavailable", "the identity provider's signing keys cannot be fetched")
	}
	if key.Alg != "" && key.Alg != h.Alg {
		return nil, authn.Invalid("bad_signature", "the token's signature does not verify")
	}
	if ek, ok := key.Public.(*ecdsa.PublicKey); ok && !lowS(ek.Curve, sig) {
		return nil, authn.Invalid("bad_signature", "the token's signature does not verify")
	}
	if _, err := jws.VerifyCompactFast(key.Public, []byte(tok), alg); err != nil {
		return nil, authn.Invalid("bad_signature", "the token's signature does not verify")
	}
	return a.checkClaims(&c, pb, now)
}

// accepted typ values: none, a JWT, or an RFC 9068 access token.
var typs = []string{"", "jwt", "at+jwt", "application/jwt", "application/at+jwt"}

func (a *Authenticator) checkHeader(h *header) error {
	if _, ok := a.algs[h.Alg]; !ok {
		return authn.Invalid("bad_alg", "the token's signature algorithm is not accepted")
	}
	switch {
	case h.JKU != nil || h.X5U != nil || h.X5C != nil || h.JWK != nil:
		return authn.Invalid("foreign_key_source", "the token names its own signing key; keys come only from the issuer's JWKS")
	case h.Crit != nil || h.B64 != nil:
		return authn.Invalid("unsupported_crit", "the token requires header extensions this gateway does not understand")
	case !slices.Contains(typs, strings.ToLower(h.Typ)):
		return authn.Invalid("bad_type", "the token is not an access token (typ "+safe(h.Typ)+")")
	}
	return nil
}

func (a *Authenticator) checkClaims(c *claims, raw []byte, now time.Time) (*verified, error) {
	skew := a.o.ClockSkew
	if !a.audienceOK(c.Aud) {
		return nil, authn.Invalid("wrong_audience", "the token is not meant for this API (aud)")
	}
	exp, ok := seconds(c.Exp)
	if !ok {
		return nil, authn.Invalid("no_expiry", "the token has no valid exp claim")
	}
	if now.After(exp.Add(skew)) {
		return nil, authn.Invalid("expired", "the token has expired")
	}
	if c.Nbf != nil {
		nbf, ok := seconds(c.Nbf)
		if !ok || now.Add(skew).Before(nbf) {
			return nil, authn.Invalid("not_yet_valid", "the token is not valid yet (nbf)")
		}
	}
	if c.Iat != nil {
		iat, ok := seconds(c.Iat)
		if !ok || now.Add(skew).Before(iat) {
			return nil, authn.Invalid("issued_in_future", "the token's iat is in the future")
		}
	}
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, authn.Invalid("malformed", "the token claims are not a JSON object")
	}
	consumer, _ := all[a.o.ConsumerClaim].(string)
	if consumer == "" {
		return nil, authn.Invalid("no_consumer", "the token has no "+a.o.ConsumerClaim+" claim")
	}
	v := &verified{id: reqctx.Identity{Consumer: consumer, Method: a.o.Method, Claims: all, ExpiresAt: exp}}
	v.id.Scopes = scopes(c)
	if c.Cnf != nil {
		v.cnf = *c.Cnf
	}
	return v, nil
}

func (a *Authenticator) audienceOK(raw json.RawMessage) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return slices.Contains(a.o.Audiences, one)
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, aud := range many {
			if slices.Contains(a.o.Audiences, aud) {
				return true
			}
		}
	}
	return false
}

func scopes(c *claims) []string {
	out := strings.Fields(c.Scope)
	var one string
	var many []string
	if json.Unmarshal(c.Scp, &one) == nil {
		out = append(out, strings.Fields(one)...)
	} else if json.Unmarshal(c.Scp, &many) == nil {
		out = append(out, many...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// seconds reads a NumericDate; fractions are allowed, absurd values are not.
func seconds(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(0, 0).Add(time.Duration(f * float64(time.Second))), true
}

// lowS reports whether an ECDSA JWS signature (r||s) is well-formed with
// s in the lower half of the group order: a signature and its high-S twin
// both verify, so accepting only one form makes signatures non-malleable.
func lowS(curve elliptic.Curve, sig []byte) bool {
	size := (curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return false
	}
	s := new(big.Int).SetBytes(sig[size:])
	half := new(big.Int).Rsh(curve.Params().N, 1)
	return s.Sign() > 0 && s.Cmp(half) <= 0
}

// checkBinding enforces the token's confirmation claim: RFC 8705
// certificate-bound tokens must come over TLS with that client
// certificate; DPoP-bound tokens (RFC 9449) need a proof this gateway
// does not check yet, so they are refused rather than taken as bearer.
func checkBinding(cnf confirmation, r *http.Request) error {
	if cnf.JKT != "" {
		return authn.Invalid("dpop_required", "the token is bound to a DPoP key; DPoP proofs are not accepted here")
	}
	if cnf.X5t == "" {
		return nil
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return authn.Invalid("certificate_required", "the token is bound to a client certificate; present it over TLS")
	}
	if Thumbprint(r.TLS.PeerCertificates[0]) != cnf.X5t {
		return authn.Invalid("certificate_mismatch", "the token is bound to another client certificate")
	}
	return nil
}

// Thumbprint is the RFC 8705 x5t#S256 of a certificate.
func Thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return b64.EncodeToString(sum[:])
}

// safe trims a token-supplied string for a client message.
func safe(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}
