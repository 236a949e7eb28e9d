// Package jwt is the jwt and oidc authenticator: a bearer JWT whose
// signature verifies against the issuer's JWKS and whose claims pass
// every check, with nothing taken from the token on trust.
//
// The token header is read by hand first, because every attack on JWT
// libraries lives there: alg is checked against the allow-list (none and
// HMAC never pass), crit, jku, x5u, x5c and an embedded jwk refuse the
// token, and the key comes from the configured JWKS only. The signature
// itself is checked by lestrrat-go/jwx with the algorithm we chose. ECDSA
// signatures are accepted with s in either half of the group order, as
// JWS (RFC 7518 §3.4) has it and as most identity providers sign; nothing
// here is keyed by the signature's bytes, so its malleability buys an
// attacker nothing (see Options.RequireLowS for the strict form).
package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
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
	"github.com/rampart-gw/rampart/internal/authn/dpop"
	"github.com/rampart-gw/rampart/internal/authn/jwks"
	"github.com/rampart-gw/rampart/internal/authn/tokencache"
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
	// Proofs checks DPoP proofs of DPoP-bound tokens; nil refuses them.
	Proofs       authn.ProofChecker
	DPoPRequired bool // refuse tokens that are not DPoP-bound
	// RequireLowS refuses ECDSA signatures whose s is in the upper half
	// of the group order. Off by default: JWS does not ask for it, and
	// an identity provider signing with crypto/ecdsa, Java or jose
	// libraries sends such signatures for about half its tokens. For
	// issuers known to normalise, where a token must have one encoding.
	RequireLowS bool
	Now         func() time.Time // default time.Now
}

// Authenticator verifies bearer JWTs.
type Authenticator struct {
	o     Options
	algs  map[string]jwa.SignatureAlgorithm
	cache *tokencache.Cache[*verified]
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
		a.cache = tokencache.New[*verified](o.CacheSize)
	}
	return a
}

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.o.Name }

// Challenge implements authn.Authenticator.
func (a *Authenticator) Challenge() string { return a.tokens().Challenge() }

// Hint implements authn.Authenticator.
func (a *Authenticator) Hint() string { return a.tokens().Hint() }

func (a *Authenticator) tokens() dpop.Tokens {
	return dpop.Tokens{MaxBytes: a.o.MaxTokenBytes, Required: a.o.DPoPRequired}
}

// Authenticate implements authn.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (*reqctx.Identity, error) {
	tok, dpopScheme, err := a.tokens().Read(r)
	if err != nil {
		return nil, err
	}
	now := a.o.Now()
	var sum [32]byte
	if a.cache != nil {
		sum = tokencache.Sum(tok)
		if v, ok := a.cache.Get(sum, now); ok && a.stillPublished(r.Context(), v.key) {
			if err := v.cnf.Check(r, authn.Presented{Token: tok, DPoP: dpopScheme, Proofs: a.o.Proofs, DPoPRequired: a.o.DPoPRequired}); err != nil {
				return nil, err
			}
			return v.identity(), nil
		}
	}
	v, err := a.verify(r.Context(), tok, now)
	if err != nil {
		return nil, err
	}
	if err := v.cnf.Check(r, authn.Presented{Token: tok, DPoP: dpopScheme, Proofs: a.o.Proofs, DPoPRequired: a.o.DPoPRequired}); err != nil {
		return nil, err
	}
	if a.cache != nil {
		until := now.Add(a.o.CacheTTL)
		if v.id.ExpiresAt.Before(until) {
			until = v.id.ExpiresAt
		}
		a.cache.Put(sum, v, until)
	}
	return v.identity(), nil
}

// verified is a token that passed every check, as cached.
type verified struct {
	id  reqctx.Identity
	cnf authn.Confirmation
	key jwks.Key // the key that verified it
}

// stillPublished says whether the issuer still publishes the key that
// verified a cached token. A cached verification is only as good as its
// key: once the issuer retires or replaces it (say, after a compromise),
// the token goes through full verification again, and is refused.
func (a *Authenticator) stillPublished(ctx context.Context, key jwks.Key) bool {
	k, err := a.o.Keys.Lookup(ctx, key.ID)
	return err == nil && samePublicKey(k.Public, key.Public)
}

// samePublicKey compares keys, by pointer first: a key set between two
// refreshes hands out the same pointers, and rsa's Equal allocates.
func samePublicKey(a, b crypto.PublicKey) bool {
	switch a := a.(type) {
	case *rsa.PublicKey:
		b, ok := b.(*rsa.PublicKey)
		return ok && (a == b || a.Equal(b))
	case *ecdsa.PublicKey:
		b, ok := b.(*ecdsa.PublicKey)
		return ok && (a == b || a.Equal(b))
	case ed25519.PublicKey:
		return a.Equal(b)
	}
	return false
}

// identity returns a copy the stage may change. Its scopes are the
// cached slice clipped to its length, so the stage's append (a consumer
// record's scopes) copies them instead of writing into the cache.
func (v *verified) identity() *reqctx.Identity {
	id := v.id
	id.Scopes = slices.Clip(v.id.Scopes)
	return &id
}

var b64 = base64.RawURLEncoding

func (a *Authenticator) verify(ctx context.Context, tok string, now time.Time) (*verified, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		// Not a JWT at all: perhaps an opaque token for introspection.
		f := authn.Invalid("malformed", "the token is not a signed JWT (header.payload.signature)")
		f.Foreign = true
		return nil, f
	}
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	sig, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, authn.Invalid("malformed", "the token is not valid base64url")
	}
	// Both halves are read by exact member name, with repeated members
	// refused (see authn.Object): no parser differential with whoever
	// reads the token after us.
	h, err := authn.ParseObject(hb)
	if err != nil {
		return nil, authn.Invalid("malformed", "the token header is not a JSON object with unique member names")
	}
	c, err := authn.ParseObject(pb)
	if err != nil {
		return nil, authn.Invalid("malformed", "the token claims are not a JSON object with unique member names")
	}
	// The issuer is read before the signature only to tell whose token it
	// is: a token of another issuer may be for another authenticator.
	if iss, err := c.String("iss"); err != nil || iss != a.o.Issuer {
		f := authn.Invalid("wrong_issuer", "the token was not issued by the expected issuer")
		f.Foreign = true
		return nil, f
	}
	alg, kid, err := a.checkHeader(h)
	if err != nil {
		return nil, err
	}
	key, err := a.o.Keys.Lookup(ctx, kid)
	switch {
	case errors.Is(err, jwks.ErrUnknownKey):
		return nil, authn.Invalid("unknown_key", "the token is not signed by a key of the issuer")
	case err != nil:
		return nil, authn.Unavailable("jwks_unavailable", "the identity provider's signing keys cannot be fetched")
	}
	if key.Alg != "" && key.Alg != alg.String() {
		return nil, authn.Invalid("bad_signature", "the token's signature does not verify")
	}
	if ek, ok := key.Public.(*ecdsa.PublicKey); ok && a.o.RequireLowS && !lowS(ek.Curve, sig) {
		return nil, authn.Invalid("high_s_signature", "the token's ECDSA signature is in its high-S form, which this API refuses (require_low_s); the identity provider must normalise its signatures")
	}
	if _, err := jws.VerifyCompactFast(key.Public, []byte(tok), alg); err != nil {
		return nil, authn.Invalid("bad_signature", "the token's signature does not verify")
	}
	v, err := a.checkClaims(c, now)
	if err != nil {
		return nil, err
	}
	v.key = key
	return v, nil
}

// accepted typ values: none, a JWT, or an RFC 9068 access token.
var typs = []string{"", "jwt", "at+jwt", "application/jwt", "application/at+jwt"}

func (a *Authenticator) checkHeader(h authn.Object) (jwa.SignatureAlgorithm, string, error) {
	name, e1 := h.String("alg")
	kid, e2 := h.String("kid")
	typ, e3 := h.String("typ")
	if err := errors.Join(e1, e2, e3); err != nil {
		return jwa.SignatureAlgorithm{}, "", authn.Invalid("malformed", "the token header has a member of the wrong type")
	}
	alg, ok := a.algs[name]
	switch {
	case !ok:
		return alg, "", authn.Invalid("bad_alg", "the token's signature algorithm is not accepted")
	case h.Has("jku") || h.Has("x5u") || h.Has("x5c") || h.Has("jwk"):
		return alg, "", authn.Invalid("foreign_key_source", "the token names its own signing key; keys come only from the issuer's JWKS")
	case h.Has("crit") || h.Has("b64"):
		return alg, "", authn.Invalid("unsupported_crit", "the token requires header extensions this gateway does not understand")
	case !slices.Contains(typs, strings.ToLower(typ)):
		return alg, "", authn.Invalid("bad_type", "the token is not an access token (typ "+safe(typ)+")")
	}
	return alg, kid, nil
}

func (a *Authenticator) checkClaims(c authn.Object, now time.Time) (*verified, error) {
	skew := a.o.ClockSkew
	if !authn.AudienceOK(a.o.Audiences, c["aud"]) {
		return nil, authn.Invalid("wrong_audience", "the token is not meant for this API (aud)")
	}
	exp, hasExp, err := c.Date("exp")
	if !hasExp || err != nil {
		return nil, authn.Invalid("no_expiry", "the token has no valid exp claim")
	}
	if now.After(exp.Add(skew)) {
		return nil, authn.Invalid("expired", "the token has expired")
	}
	if nbf, ok, err := c.Date("nbf"); err != nil || ok && now.Add(skew).Before(nbf) {
		return nil, authn.Invalid("not_yet_valid", "the token is not valid yet (nbf)")
	}
	if iat, ok, err := c.Date("iat"); err != nil || ok && now.Add(skew).Before(iat) {
		return nil, authn.Invalid("issued_in_future", "the token's iat is in the future")
	}
	consumer, err := c.String(a.o.ConsumerClaim)
	if err != nil || consumer == "" {
		return nil, authn.Invalid("no_consumer", "the token has no "+a.o.ConsumerClaim+" claim")
	}
	sc, err := scopes(c)
	if err != nil {
		return nil, authn.Invalid("malformed", "the token's scope or scp claim is neither a string nor a list of strings")
	}
	cnf, err := c.Confirmation()
	if err != nil {
		return nil, authn.Invalid("malformed", "the token's cnf claim is not a confirmation object")
	}
	return &verified{id: reqctx.Identity{Consumer: consumer, Method: a.o.Method, Claims: c.Any(), ExpiresAt: exp, Scopes: sc}, cnf: cnf}, nil
}

// scopes reads scope (a space-separated string) and scp (a string or a
// list of strings).
func scopes(c authn.Object) ([]string, error) {
	scope, err := c.String("scope")
	if err != nil {
		return nil, err
	}
	out := strings.Fields(scope)
	if raw, ok := c["scp"]; ok {
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			out = append(out, strings.Fields(one)...)
		case json.Unmarshal(raw, &many) == nil:
			out = append(out, many...)
		default:
			return nil, errors.New("scp")
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// lowS reports whether an ECDSA JWS signature (r||s) is well-formed with
// s in the lower half of the group order: a signature and its high-S twin
// both verify, so accepting only one form (RequireLowS) gives each token
// one encoding.
func lowS(curve elliptic.Curve, sig []byte) bool {
	size := (curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return false
	}
	s := new(big.Int).SetBytes(sig[size:])
	half := new(big.Int).Rsh(curve.Params().N, 1)
	return s.Sign() > 0 && s.Cmp(half) <= 0
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
