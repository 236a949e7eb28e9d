// Package identity is stage 15's identity propagation: it tells the
// upstream who the caller is with X-Rampart-Consumer, X-Rampart-Scopes and
// X-Rampart-Assertion, a short-lived ES256 JWT signed by the gateway, whose
// public keys the gateway publishes as a JWKS. The client's Authorization
// header is dropped unless the route forwards it.
package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Upstream header names.
const (
	HeaderConsumer  = "X-Rampart-Consumer"
	HeaderScopes    = "X-Rampart-Scopes"
	HeaderAssertion = "X-Rampart-Assertion"
)

// Signer signs assertions with an ECDSA P-256 key that it replaces every
// rotation period; the previous key stays published for one more period,
// so assertions signed just before a rotation still verify.
type Signer struct {
	rotation time.Duration
	now      func() time.Time

	mu        sync.RWMutex
	cur, prev *signingKey
	jwks      []byte

	cacheMu sync.Mutex
	cache   map[assertionKey]cachedAssertion
}

// assertionKey is what an assertion says; a struct of strings hashes
// without building a key string per request.
type assertionKey struct {
	issuer, audience, consumer, authenticator, keyID, scope, roles string
}

type signingKey struct {
	kid     string
	priv    *ecdsa.PrivateKey // a key of the gateway's; nil for one in a token
	signer  crypto.Signer     // a key in a token (PKCS#11): it signs, the gateway never holds it
	pub     *ecdsa.PublicKey
	created time.Time
}

// sign returns the JWS ES256 signature of input.
func (k *signingKey) sign(input []byte) ([]byte, error) {
	if k.priv != nil {
		return SignES256(k.priv, input)
	}
	sum := sha256.Sum256(input)
	der, err := k.signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("the token's signature is not an ECDSA signature: %v", err)
	}
	n := k.pub.Curve.Params().N
	if sig.S.Cmp(new(big.Int).Rsh(n, 1)) > 0 { // low s, as SignES256 makes it
		sig.S.Sub(n, sig.S)
	}
	out := make([]byte, 64)
	sig.R.FillBytes(out[:32])
	sig.S.FillBytes(out[32:])
	return out, nil
}

// NewSignerWithKey returns a Signer whose one key is signer, an ECDSA
// P-256 key in a token: it is never rotated here (rotate it in the
// token, and restart).
func NewSignerWithKey(signer crypto.Signer) (*Signer, error) {
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("the assertion signing key must be an ECDSA P-256 key (ES256)")
	}
	p, err := pub.ECDH()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(p.Bytes())
	s := &Signer{rotation: time.Duration(math.MaxInt64), now: time.Now, cache: map[assertionKey]cachedAssertion{}}
	s.cur = &signingKey{kid: b64.EncodeToString(sum[:12]), signer: signer, pub: pub, created: time.Now()}
	s.jwks = s.buildJWKS()
	return s, nil
}

type cachedAssertion struct {
	token     string
	renewAt   time.Time
	expiresAt time.Time
}

// NewSigner returns a Signer with a fresh key.
func NewSigner(rotation time.Duration) (*Signer, error) {
	s := &Signer{rotation: rotation, now: time.Now, cache: map[assertionKey]cachedAssertion{}}
	if err := s.rotate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Signer) rotate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rotateLocked()
}

func (s *Signer) rotateLocked() error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	pub, _ := priv.PublicKey.ECDH() // for the uncompressed point
	sum := sha256.Sum256(pub.Bytes())
	s.prev, s.cur = s.cur, &signingKey{kid: b64.EncodeToString(sum[:12]), priv: priv, pub: &priv.PublicKey, created: s.now()}
	s.jwks = s.buildJWKS()
	return nil
}

// key returns the current key, rotating first when it is due. Requests
// that find it due together rotate once: a second rotation would
// unpublish the key that signed assertions a moment ago.
func (s *Signer) key() (*signingKey, error) {
	s.mu.RLock()
	k := s.cur
	s.mu.RUnlock()
	if s.now().Sub(k.created) < s.rotation {
		return k, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now().Sub(s.cur.created) >= s.rotation {
		if err := s.rotateLocked(); err != nil {
			return nil, err
		}
	}
	return s.cur, nil
}

var b64 = base64.RawURLEncoding

func (s *Signer) buildJWKS() []byte {
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	}
	var keys []jwk
	for _, k := range []*signingKey{s.cur, s.prev} {
		if k == nil {
			continue
		}
		x, y := make([]byte, 32), make([]byte, 32)
		pub, _ := k.pub.ECDH()
		raw := pub.Bytes() // 0x04 || X || Y
		copy(x, raw[1:33])
		copy(y, raw[33:65])
		keys = append(keys, jwk{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(x), Y: b64.EncodeToString(y), Kid: k.kid, Use: "sig", Alg: "ES256"})
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// JWKS serves the public keys. Upstreams fetch it to verify assertions.
func (s *Signer) JWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.key(); err != nil { // rotate if due, so the set is current
			http.Error(w, "signing key unavailable", http.StatusInternalServerError)
			return
		}
		s.mu.RLock()
		body := s.jwks
		s.mu.RUnlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(body)
	})
}

// Claims of an assertion beyond the registered ones.
type assertion struct {
	Iss           string   `json:"iss"`
	Sub           string   `json:"sub"`
	Aud           string   `json:"aud"`
	Iat           int64    `json:"iat"`
	Exp           int64    `json:"exp"`
	Scope         string   `json:"scope,omitempty"`
	Roles         []string `json:"roles,omitempty"`
	Authenticator string   `json:"authenticator"`
	Method        string   `json:"auth_method"`
	KeyID         string   `json:"key_id,omitempty"`
}

// Sign returns an assertion of id for audience, valid for ttl; scope is
// id.Scopes space-separated, which the caller has already joined. Signed
// assertions are reused until half their lifetime has passed, so a
// consumer's steady traffic costs one signature per ttl/2, not one per
// request.
func (s *Signer) Sign(id *reqctx.Identity, scope, issuer, audience string, ttl time.Duration) (string, error) {
	ck := assertionKey{issuer: issuer, audience: audience, consumer: id.Consumer, authenticator: id.Authenticator,
		keyID: id.KeyID, scope: scope}
	if len(id.Roles) > 0 {
		ck.roles = strings.Join(id.Roles, " ")
	}
	now := s.now()
	s.cacheMu.Lock()
	c, ok := s.cache[ck]
	s.cacheMu.Unlock()
	if ok && now.Before(c.renewAt) && now.Before(c.expiresAt) {
		return c.token, nil
	}
	k, err := s.key()
	if err != nil {
		return "", err
	}
	claims := assertion{Iss: issuer, Sub: id.Consumer, Aud: audience, Iat: now.Unix(), Exp: now.Add(ttl).Unix(), Scope: scope,
		Roles: id.Roles, Authenticator: id.Authenticator, Method: id.Method, KeyID: id.KeyID}
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Unix() < claims.Exp {
		claims.Exp = id.ExpiresAt.Unix() // never outlive the credential
	}
	hb, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": k.kid})
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	sig, err := k.sign([]byte(input))
	if err != nil {
		return "", err
	}
	tok := input + "." + b64.EncodeToString(sig)
	s.cacheMu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache)
	}
	s.cache[ck] = cachedAssertion{token: tok, renewAt: now.Add(ttl / 2), expiresAt: time.Unix(claims.Exp, 0)}
	s.cacheMu.Unlock()
	return tok, nil
}

// SignES256 returns the JWS ES256 signature of input: r||s, 32 bytes
// each, with s in the lower half of the group order, the form that both
// lenient verifiers and strict ones (require_low_s) accept. The gateway's
// own assertions are signed so.
func SignES256(k *ecdsa.PrivateKey, input []byte) ([]byte, error) {
	return signES256(k, input, true)
}

// SignES256AsIs returns the JWS ES256 signature of input as
// crypto/ecdsa makes it, s in either half: what Go, Java, the jose
// libraries and most identity providers send. Tests sign with it.
func SignES256AsIs(k *ecdsa.PrivateKey, input []byte) ([]byte, error) {
	return signES256(k, input, false)
}

func signES256(k *ecdsa.PrivateKey, input []byte, lowS bool) ([]byte, error) {
	sum := sha256.Sum256(input)
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		return nil, err
	}
	n := k.Curve.Params().N
	if lowS && s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		s.Sub(n, s)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig, nil
}

// Stage sets the identity headers for the upstream.
type Stage struct {
	Signer               *Signer
	Issuer, Audience     string // Audience: the upstream's name
	TTL                  time.Duration
	ForwardAuthorization bool
}

// Name names the stage in traces and docs/architecture.md (the identity stage (15): X-Rampart-* and the assertion).
func (s *Stage) Name() string { return "identity" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.ForwardAuthorization {
			// Canonical keys, deleted directly: Del would canonicalise
			// each name on every request.
			delete(r.Header, "Authorization")
			delete(r.Header, "Dpop") // DPoP: a proof names the gateway's URL, not the upstream's
		}
		st := reqctx.From(r.Context())
		if id := st.Identity; id != nil {
			// The three values share one backing array: one allocation.
			vals := new([3]string)
			vals[0], vals[1] = id.Consumer, strings.Join(id.Scopes, " ")
			st.SetUpstream(HeaderConsumer, vals[0:1:1])
			if len(id.Scopes) > 0 {
				st.SetUpstream(HeaderScopes, vals[1:2:2])
			}
			if s.Signer != nil {
				tok, err := s.Signer.Sign(id, vals[1], s.Issuer, s.Audience, s.TTL)
				if err != nil {
					reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.Internal, Reason: "assertion_failed", Stage: "identity",
						Detail: "The gateway could not sign the identity assertion. Retry; report the request id if it persists."})
					return
				}
				vals[2] = tok
				st.SetUpstream(HeaderAssertion, vals[2:3:3])
			}
		}
		next.ServeHTTP(w, r)
	})
}
