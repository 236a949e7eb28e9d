package e2e

import (
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// op is test/op: an OpenID provider built on zitadel/oidc's op package,
// run as its own process.
type op struct {
	*proc
	issuer string
}

func startOP(t *testing.T, alg string) *op {
	t.Helper()
	p := startBin(t, opBinary, "-listen", "127.0.0.1:0", "-alg", alg)
	o := &op{proc: p}
	waitFor(t, 20*time.Second, "op", func() bool {
		s := p.stdout.String()
		if j := strings.Index(s, "op listening on "); j >= 0 {
			o.issuer = "http://" + strings.TrimSpace(strings.SplitN(s[j+len("op listening on "):], "\n", 2)[0])
			return true
		}
		return false
	})
	return o
}

// token runs the client-credentials grant as a service would.
func (o *op) token(t *testing.T, clientID, secret, scope string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", o.issuer+"/oauth/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.AccessToken == "" {
		t.Fatalf("op token for %s: %d %v", clientID, res.StatusCode, err)
	}
	return out.AccessToken
}

func (o *op) admin(t *testing.T, what string) {
	t.Helper()
	res, err := http.Post(o.issuer+"/admin/"+what, "", nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("op %s: %v", what, err)
	}
	res.Body.Close()
}

func (o *op) introspections(t *testing.T) int { return introspections(t, o.issuer+"/admin/stats") }

// TestIdentityCertifiedProvider runs the gateway against a provider it
// shares no code with: discovery, RS256 JWT access tokens from the
// client-credentials grant, key rotation and retirement mid-test, opaque
// tokens through RFC 7662 introspection, RFC 7009 revocation.
func TestIdentityCertifiedProvider(t *testing.T) {
	o := startOP(t, "RS256")
	up := startUpstream(t, "orders")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "introspection.secret"), "introspection-secret\n")
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
authenticators:
  op: {type: oidc, issuer: %[1]q, audiences: [orders], algorithms: [RS256]}
  opaque:
    type: oauth2_introspection
    endpoint: %[1]s/oauth/introspect
    client_id: rampart
    client_secret: file:introspection.secret
    issuer: %[1]q
    audiences: [orders]
    cache_ttl: 1s
    negative_cache_ttl: 1s
upstreams:
  echo: {targets: [{url: %[2]s}]}
policies:
  api: {authenticate: [op, opaque], authorize: {any_authenticated: true}}
  local: {authenticate: [op], authorize: {any_authenticated: true}}
  write: {authenticate: [op], authorize: {scopes: ["orders:write"]}}
routes:
  - {name: orders, match: {paths: ["/v1/**"]}, upstream: echo, policy: api}
  - {name: local, match: {paths: ["/local/**"]}, upstream: echo, policy: local}
  - {name: write, match: {paths: ["/write/**"]}, upstream: echo, policy: write}
`, o.issuer, up.url()))
	// /local takes JWTs only: a JWT the local checks refuse is not handed
	// on to introspection, so this is where JWKS handling shows.
	call := func(tok string) response { return do(t, client, "GET", g.url("/local/orders"), nil, bearer(tok)) }
	accepted := func(what, tok, consumer, scopes string) {
		t.Helper()
		r := call(tok)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		e := echoOf(t, r)
		if e.Headers["X-Rampart-Consumer"] != consumer || e.Headers["X-Rampart-Scopes"] != scopes {
			t.Fatalf("%s: upstream saw %v", what, e.Headers)
		}
		verifyAssertion(t, g, e.Headers["X-Rampart-Assertion"], consumer)
	}
	refused := func(what, tok string) {
		t.Helper()
		r := call(tok)
		problemOf(t, r, 401)
		if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
			t.Fatalf("%s: challenge %q", what, ch)
		}
	}
	// A token of a key the gateway has not fetched yet is taken once the
	// refetch rate limit (5s) allows.
	acceptedSoon := func(what, tok, consumer, scopes string) {
		t.Helper()
		waitFor(t, 8*time.Second, what, func() bool { return call(tok).status == 200 })
		accepted(what, tok, consumer, scopes)
	}

	// JWT access tokens, verified locally against the discovered JWKS.
	first := o.token(t, "orders-svc", "orders-secret", "orders:read orders:write")
	accepted("JWT", first, "orders-svc", "orders:read orders:write")
	refused("JWT for another audience", o.token(t, "billing-svc", "billing-secret", "billing:read"))

	// Rotation: a token of the new key works; the old key's still does.
	o.admin(t, "rotate")
	second := o.token(t, "orders-svc", "orders-secret", "orders:read")
	acceptedSoon("token of the rotated key", second, "orders-svc", "orders:read")
	accepted("token of the previous key", first, "orders-svc", "orders:read orders:write")

	// Retirement: once the gateway has seen a JWKS without the old keys,
	// their tokens are refused, although they were cached as verified.
	o.admin(t, "rotate")
	o.admin(t, "retire")
	third := o.token(t, "orders-svc", "orders-secret", "orders:write")
	acceptedSoon("token of the newest key", third, "orders-svc", "orders:write")
	refused("token of a retired key", first)
	refused("token of a retired key", second)

	// Scopes granted by the provider decide access.
	if r := do(t, client, "POST", g.url("/write/orders"), nil, bearer(third)); r.status != 200 {
		t.Fatalf("token with orders:write: %d %s", r.status, r.body)
	}
	r := do(t, client, "POST", g.url("/write/orders"), nil, bearer(o.token(t, "orders-svc", "orders-secret", "orders:read")))
	if p := problemOf(t, r, 403); !strings.Contains(p["detail"].(string), "`orders:write`") {
		t.Fatalf("token without orders:write: %v", p)
	}

	// A JWT the local checks refuse goes on to introspection where the
	// policy lists it; the provider, which no longer publishes the key
	// either, says it is not active.
	if r := do(t, client, "GET", g.url("/v1/orders"), nil, bearer(first)); r.status != 401 {
		t.Fatalf("retired-key token through introspection: %d %s", r.status, r.body)
	}

	// Opaque tokens: introspected with the gateway's client credentials,
	// the answer cached.
	call = func(tok string) response { return do(t, client, "GET", g.url("/v1/orders"), nil, bearer(tok)) }
	opaque := o.token(t, "opaque-svc", "opaque-secret", "orders:read")
	if strings.Count(opaque, ".") == 2 {
		t.Fatalf("expected an opaque (encrypted) token, got a JWS")
	}
	accepted("opaque token", opaque, "opaque-svc", "orders:read")
	before := o.introspections(t)
	for range 5 {
		if r := call(opaque); r.status != 200 {
			t.Fatalf("cached opaque token: %d", r.status)
		}
	}
	if n := o.introspections(t) - before; n > 1 {
		t.Fatalf("%d introspections for 5 uses within cache_ttl", n)
	}

	// Revoked at the provider (RFC 7009, by the client it was issued to):
	// refused once the cache TTL (1s) has passed.
	req, _ := http.NewRequest("POST", o.issuer+"/revoke", strings.NewReader(url.Values{"token": {opaque}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("opaque-svc", "opaque-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("revoke: %v", err)
	}
	res.Body.Close()
	revoked := time.Now()
	waitFor(t, 5*time.Second, "revoked token refused", func() bool { return call(opaque).status == 401 })
	if d := time.Since(revoked); d > 2*time.Second {
		t.Fatalf("revocation took %v with cache_ttl 1s", d)
	}
	refused("revoked opaque token", opaque)
}

// TestIdentityCertifiedProviderES256: a provider built on zitadel/oidc
// signing ES256 with go-jose, which does not normalise s: about half its
// signatures are high-S, and every one of its tokens is accepted. With
// require_low_s the high-S ones, and only they, are refused.
func TestIdentityCertifiedProviderES256(t *testing.T) {
	o := startOP(t, "ES256")
	up := startUpstream(t, "orders")
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
authenticators:
  op: {type: oidc, issuer: %[1]q, audiences: [orders], algorithms: [ES256]}
  strict: {type: oidc, issuer: %[1]q, audiences: [orders], algorithms: [ES256], require_low_s: true}
upstreams:
  echo: {targets: [{url: %[2]s}]}
policies:
  api: {authenticate: [op], authorize: {any_authenticated: true}}
  strict: {authenticate: [strict], authorize: {any_authenticated: true}}
routes:
  - {name: orders, match: {paths: ["/v1/**"]}, upstream: echo, policy: api}
  - {name: strict, match: {paths: ["/strict/**"]}, upstream: echo, policy: strict}
`, o.issuer, up.url()))
	n := elliptic.P256().Params().N
	half := new(big.Int).Rsh(n, 1)
	high := 0
	for i := range 40 {
		tok := o.token(t, "orders-svc", "orders-secret", "orders:read")
		if r := do(t, client, "GET", g.url("/v1/orders"), nil, bearer(tok)); r.status != 200 {
			t.Fatalf("token %d: %d %s", i, r.status, r.body)
		}
		sig, err := base64.RawURLEncoding.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
		if err != nil || len(sig) != 64 {
			t.Fatalf("token %d: signature of %d bytes: %v", i, len(sig), err)
		}
		isHigh := new(big.Int).SetBytes(sig[32:]).Cmp(half) > 0
		if isHigh {
			high++
		}
		r := do(t, client, "GET", g.url("/strict/orders"), nil, bearer(tok))
		if isHigh && r.status != 401 || !isHigh && r.status != 200 {
			t.Fatalf("require_low_s, token %d (high S: %v): %d %s", i, isHigh, r.status, r.body)
		}
	}
	if high == 0 {
		t.Fatal("the provider sent no high-S signature in 40 tokens: the test no longer tests what it says")
	}
}
