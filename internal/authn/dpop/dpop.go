// Package dpop checks DPoP proofs (RFC 9449) for access tokens bound to a
// client key by their cnf.jkt: the client signs, per request, a small JWT
// naming the method, the URL, the time and a hash of the token, with the
// private key whose thumbprint the token carries. A stolen token is then
// useless without the key, and a captured proof is useless for another
// request: its jti is remembered for as long as the proof is fresh.
package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/rampart-gw/rampart/internal/authn"
)

// Algorithms a proof may be signed with: asymmetric only.
var Algorithms = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

const (
	// MaxAge is how old a proof's iat may be, and Leeway how far ahead
	// of this clock; a proof is fresh, and its jti remembered, for
	// MaxAge+Leeway.
	MaxAge = 2 * time.Minute
	Leeway = 30 * time.Second
	// maxProof bounds the DPoP header.
	maxProof = 8 << 10
	// replaySize bounds the remembered jtis; when every entry is still
	// fresh, new proofs are refused (503) rather than replays let in.
	replaySize = 500_000
)

// Verifier checks proofs and remembers their jtis. One serves the whole
// gateway, so a config reload does not forget them.
type Verifier struct {
	algs map[string]jwa.SignatureAlgorithm
	now  func() time.Time

	mu   sync.Mutex
	seen map[[32]byte]time.Time // sha256(jkt, jti) -> when it may be forgotten
	size int
}

// New returns a Verifier; now may be nil for time.Now.
func New(now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{algs: map[string]jwa.SignatureAlgorithm{}, now: now, seen: map[[32]byte]time.Time{}, size: replaySize}
	for _, name := range Algorithms {
		if alg, ok := jwa.LookupSignatureAlgorithm(name); ok {
			v.algs[name] = alg
		}
	}
	return v
}

// Challenge is the WWW-Authenticate challenge for DPoP.
func Challenge() string {
	return `DPoP realm="rampart", algs="` + strings.Join(Algorithms, " ") + `"`
}

func invalid(reason, desc string) *authn.Failure {
	f := authn.Invalid(reason, desc)
	f.Challenge = Challenge() + `, error="invalid_dpop_proof"`
	return f
}

// Check verifies the request's DPoP proof for token, whose cnf.jkt is jkt.
func (v *Verifier) Check(r *http.Request, token, jkt string) error {
	proofs := r.Header.Values("DPoP")
	switch {
	case len(proofs) == 0:
		return invalid("dpop_proof_missing", "the token is bound to a DPoP key; send a DPoP proof header")
	case len(proofs) > 1:
		return invalid("dpop_proof_invalid", "send exactly one DPoP proof header")
	case len(proofs[0]) > maxProof:
		return invalid("dpop_proof_invalid", "the DPoP proof is too long")
	}
	proof := proofs[0]
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return invalid("dpop_proof_invalid", "the DPoP proof is not a signed JWT")
	}
	b64 := base64.RawURLEncoding
	hb, err1 := b64.DecodeString(parts[0])
	pb, err2 := b64.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		return invalid("dpop_proof_invalid", "the DPoP proof is not valid base64url")
	}
	h, err := authn.ParseObject(hb)
	if err != nil {
		return invalid("dpop_proof_invalid", "the DPoP proof header is not a JSON object with unique member names")
	}
	c, err := authn.ParseObject(pb)
	if err != nil {
		return invalid("dpop_proof_invalid", "the DPoP proof claims are not a JSON object with unique member names")
	}
	typ, _ := h.String("typ")
	name, _ := h.String("alg")
	alg, ok := v.algs[name]
	switch {
	case typ != "dpop+jwt":
		return invalid("dpop_proof_invalid", "the DPoP proof's typ must be dpop+jwt")
	case !ok:
		return invalid("dpop_proof_invalid", "the DPoP proof's algorithm is not accepted (use "+strings.Join(Algorithms, ", ")+")")
	case !h.Has("jwk"):
		return invalid("dpop_proof_invalid", "the DPoP proof has no jwk header")
	case h.Has("crit"):
		return invalid("dpop_proof_invalid", "the DPoP proof requires header extensions this gateway does not understand")
	}
	pub, thumb, err := publicKey(h["jwk"])
	if err != nil {
		return invalid("dpop_proof_invalid", "the DPoP proof's jwk "+err.Error())
	}
	if thumb != jkt {
		return invalid("dpop_key_mismatch", "the DPoP proof is signed by another key than the one the token is bound to")
	}
	if _, err := jws.VerifyCompactFast(pub, []byte(proof), alg); err != nil {
		return invalid("dpop_proof_invalid", "the DPoP proof's signature does not verify")
	}
	return v.checkClaims(c, r, token, jkt)
}

func (v *Verifier) checkClaims(c authn.Object, r *http.Request, token, jkt string) error {
	htm, e1 := c.String("htm")
	htu, e2 := c.String("htu")
	jti, e3 := c.String("jti")
	ath, e4 := c.String("ath")
	iat, hasIat, e5 := c.Date("iat")
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil || e5 != nil || !hasIat {
		return invalid("dpop_proof_invalid", "the DPoP proof needs string htm, htu, jti and ath claims and a numeric iat")
	}
	now := v.now()
	sum := sha256.Sum256([]byte(token))
	switch {
	case htm != r.Method:
		return invalid("dpop_proof_invalid", "the DPoP proof is for another method (htm)")
	case !sameURI(htu, r):
		return invalid("dpop_proof_invalid", "the DPoP proof is for another URL (htu)")
	case iat.Before(now.Add(-MaxAge)):
		return invalid("dpop_proof_stale", "the DPoP proof is too old (iat); sign a fresh one for each request")
	case iat.After(now.Add(Leeway)):
		return invalid("dpop_proof_invalid", "the DPoP proof's iat is in the future")
	case jti == "" || len(jti) > 256:
		return invalid("dpop_proof_invalid", "the DPoP proof needs a jti of at most 256 characters")
	case ath != base64.RawURLEncoding.EncodeToString(sum[:]):
		return invalid("dpop_proof_invalid", "the DPoP proof is for another access token (ath)")
	}
	return v.remember(jkt, jti, iat.Add(MaxAge+Leeway), now)
}

// remember records a proof's jti until it can no longer be fresh; a jti
// already seen is a replay.
func (v *Verifier) remember(jkt, jti string, until, now time.Time) error {
	h := sha256.New()
	h.Write([]byte(jkt))
	h.Write([]byte{0})
	h.Write([]byte(jti))
	var key [32]byte
	h.Sum(key[:0])
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.seen[key]; ok && now.Before(t) {
		return invalid("dpop_replay", "the DPoP proof was already used; sign a fresh one for each request")
	}
	if len(v.seen) >= v.size {
		for k, t := range v.seen {
			if !now.Before(t) {
				delete(v.seen, k)
			}
		}
		if len(v.seen) >= v.size {
			return authn.Unavailable("dpop_replay_cache_full", "too many DPoP proofs are in flight to rule out a replay")
		}
	}
	v.seen[key] = until
	return nil
}

// publicKey parses the proof's jwk: a public asymmetric key of a sound
// size, and its RFC 7638 thumbprint.
func publicKey(raw []byte) (crypto.PublicKey, string, error) {
	members, err := authn.ParseObject(raw)
	if err != nil {
		return nil, "", errBadKey("is not a JSON object")
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		if members.Has(private) {
			return nil, "", errBadKey("must be a public key")
		}
	}
	k, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, "", errBadKey("is not a valid key")
	}
	var pub any
	if err := jwk.Export(k, &pub); err != nil {
		return nil, "", errBadKey("is not a valid key")
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < 2048 {
			return nil, "", errBadKey("is an RSA key under 2048 bits")
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, "", errBadKey("is not an RSA, EC or OKP public key")
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, "", errBadKey("has no thumbprint")
	}
	return pub, base64.RawURLEncoding.EncodeToString(tp), nil
}

type errBadKey string

func (e errBadKey) Error() string { return string(e) }

// sameURI compares htu with the request's URL, without query and
// fragment, after RFC 3986 normalisation: scheme and host case, default
// ports, percent-encoding. The scheme is the one the client used to reach
// the gateway, which must therefore terminate the client's TLS itself.
func sameURI(htu string, r *http.Request) bool {
	u, err := url.Parse(htu)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(u.Scheme, scheme) && hostPort(u.Scheme, u.Host) == hostPort(scheme, r.Host) &&
		orSlash(u.Path) == orSlash(r.URL.Path)
}

func hostPort(scheme, host string) string {
	host = strings.ToLower(host)
	switch {
	case strings.EqualFold(scheme, "https"):
		host = strings.TrimSuffix(host, ":443")
	case strings.EqualFold(scheme, "http"):
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

func orSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// Tokens is how the access-token authenticators (jwt, oidc,
// oauth2_introspection) take a token: Bearer or DPoP scheme, a size
// bound, and whether only DPoP-bound tokens are accepted.
type Tokens struct {
	MaxBytes int
	Required bool // dpop_required
}

// Challenge is the authenticator's WWW-Authenticate challenge.
func (t Tokens) Challenge() string {
	if t.Required {
		return Challenge()
	}
	return `Bearer realm="rampart"`
}

// Hint says in words what credential is wanted.
func (t Tokens) Hint() string {
	if t.Required {
		return "a DPoP-bound access token in the Authorization header with a DPoP proof"
	}
	return "a bearer token in the Authorization header"
}

// Read returns the request's access token and whether it came with the
// DPoP scheme: authn.ErrNoCredentials without one, a refusal when it is
// longer than MaxBytes.
func (t Tokens) Read(r *http.Request) (string, bool, error) {
	tok, dpopScheme := authn.AccessToken(r)
	if tok == "" {
		return "", false, authn.ErrNoCredentials
	}
	if len(tok) > t.MaxBytes {
		return "", false, authn.Invalid("too_large", "the token is longer than this API accepts")
	}
	return tok, dpopScheme, nil
}
