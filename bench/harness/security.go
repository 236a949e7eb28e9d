package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/identity"
)

// security holds what the security scenarios need: tokens signed by
// keys whose JWKS the backend serves, and an API key from the store.
type security struct {
	jwksFile string
	es256    string
	rs256    string
	apiKey   string
}

const benchIssuer = "https://idp.bench.local"

func prepareSecurity(dir string) (*security, error) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding
	pt, _ := ec.PublicKey.ECDH()
	raw := pt.Bytes()
	keys := []map[string]string{
		{"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256", "use": "sig", "x": b64.EncodeToString(raw[1:33]), "y": b64.EncodeToString(raw[33:])},
		{"kty": "RSA", "kid": "rsa", "alg": "RS256", "use": "sig", "n": b64.EncodeToString(rk.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(rk.E)).Bytes())},
	}
	body, _ := json.Marshal(map[string]any{"keys": keys})
	s := &security{jwksFile: writeFile(dir, "jwks.json", string(body))}
	writeFile(dir, "million.netset", millionFeed())
	claims, _ := json.Marshal(map[string]any{"iss": benchIssuer, "aud": "bench", "sub": "bench-client", "scope": "items:read",
		"iat": time.Now().Unix(), "exp": time.Now().Add(6 * time.Hour).Unix()})
	sign := func(alg, kid string, f func([]byte) []byte) string {
		h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
		in := b64.EncodeToString(h) + "." + b64.EncodeToString(claims)
		return in + "." + b64.EncodeToString(f([]byte(in)))
	}
	s.es256 = sign("ES256", "ec", func(in []byte) []byte {
		sig, _ := identity.SignES256AsIs(ec, in)
		return sig
	})
	s.rs256 = sign("RS256", "rsa", func(in []byte) []byte {
		sum := sha256.Sum256(in)
		sig, _ := rsa.SignPKCS1v15(rand.Reader, rk, crypto.SHA256, sum[:])
		return sig
	})
	return s, nil
}

// config returns the rampart.yaml sections of the security scenarios;
// backend is the backend's cleartext host:port, which also serves the JWKS.
func (s *security) config(dir, backend string) string {
	return fmt.Sprintf(`store: {driver: embedded, path: %s}
threat_intel:
  feeds:
    million: {file: million.netset, format: netset, max_entries: 2000000}
authenticators:
  idp: {type: jwt, issuer: %q, jwks_uri: "http://%s/.well-known/jwks.json", audiences: [bench], algorithms: [ES256, RS256]}
  keys: {type: api_key}
consumers:
  - {id: bench-client, roles: [reader], attributes: {account: acme}}
roles:
  reader: {allow: [{methods: [GET], paths: ["/authz/{account}/**"]}]}
policies:
  jwt: {authenticate: [idp], authorize: {any_authenticated: true}}
  key: {authenticate: [keys], authorize: {any_authenticated: true}}
  limited:
    authenticate: []
    rate_limits: [{key: ip, rate: 1000000/s, burst: 1000000, name: bench-ip}]
  feed:
    authenticate: []
    threat_intel: [{feeds: [million], action: block}]
  authz:
    authenticate: [idp]
    authorize:
      scopes: [items:read]
      roles: [reader]
      when: request.params.account == consumer.attributes.account
`, filepath.Join(dir, "rampart.db"), benchIssuer, backend)
}

// routes are the security routes, before the catch-all.
func (s *security) routes() string {
	return `  - {name: jwt, match: {paths: ["/jwt/**"]}, upstream: backend, policy: jwt, rewrite: {strip_prefix: /jwt}}
  - {name: key, match: {paths: ["/key/**"]}, upstream: backend, policy: key, rewrite: {strip_prefix: /key}}
  - {name: authz, match: {paths: ["/authz/{account}/**"]}, upstream: backend, policy: authz}
  - {name: limited, match: {paths: ["/rl/**"]}, upstream: backend, policy: limited, rewrite: {strip_prefix: /rl}}
  - {name: feed, match: {paths: ["/feed/**"]}, upstream: backend, policy: feed, rewrite: {strip_prefix: /feed}}
`
}

// millionFeed is a threat feed of a million entries, three in four
// single addresses and one in four /24s, spread over the public IPv4
// space and never 127.0.0.0/8, where the load comes from.
func millionFeed() string {
	r := mrand.New(mrand.NewPCG(26, 27))
	var b strings.Builder
	b.Grow(16 << 20)
	b.WriteString("# a million-entry feed for the bench\n")
	for i := range 1_000_000 {
		first := 1 + r.IntN(222)
		if first == 127 {
			first = 128
		}
		fmt.Fprintf(&b, "%d.%d.%d.%d", first, r.IntN(256), r.IntN(256), r.IntN(256))
		if i%4 == 0 {
			b.WriteString("/24")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// createKey issues the API key with the built binary.
func (s *security) createKey(rampart, cfg string) error {
	out, err := runCmd(rampart, "keys", "create", "--consumer", "bench", "-c", cfg)
	if err != nil {
		return fmt.Errorf("rampart keys create: %v %s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "rk_") {
			s.apiKey = strings.TrimSpace(line)
			return nil
		}
	}
	return fmt.Errorf("rampart keys create printed no key: %s", out)
}
