package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/rampart-gw/rampart/internal/authn/dpop/dpoptest"
	"github.com/rampart-gw/rampart/internal/testenv"
)

// idp is the test identity provider process.
type idp struct {
	*proc
	issuer string
}

func startIdP(t *testing.T) *idp {
	t.Helper()
	p := startBin(t, idpBinary, "-listen", "127.0.0.1:0")
	i := &idp{proc: p}
	waitFor(t, 20*time.Second, "idp", func() bool {
		s := p.stderr.String()
		if j := strings.Index(s, "idp listening on "); j >= 0 {
			i.issuer = "http://" + strings.TrimSpace(strings.SplitN(s[j+len("idp listening on "):], "\n", 2)[0])
			return true
		}
		return false
	})
	return i
}

// token mints an access token with the given form fields.
func (i *idp) token(t *testing.T, fields map[string]string) string {
	t.Helper()
	form := url.Values{}
	for k, v := range fields {
		form.Set(k, v)
	}
	res, err := http.PostForm(i.issuer+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("idp token: %v", err)
	}
	return out.AccessToken
}

func (i *idp) post(t *testing.T, path string) {
	t.Helper()
	res, err := http.Post(i.issuer+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}

func identityConfig(issuer, upstream string) string {
	return fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
store: {driver: embedded, path: data/rampart.db, sync_interval: 200ms}
authenticators:
  idp: {type: oidc, issuer: %q, audiences: [orders], algorithms: [ES256]}
  keys: {type: api_key, in: "header:X-API-Key"}
consumers:
  - {id: blocked, disabled: true}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  api: {authenticate: [idp, keys], authorize: {any_authenticated: true}}
routes:
  - {name: orders, match: {paths: ["/v1/**"]}, upstream: echo, policy: api}
  - {name: open, match: {paths: ["/open/**"]}, upstream: echo, policy: public}
`, issuer, upstream)
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestIdentityOIDC(t *testing.T) {
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	g := startGateway(t, identityConfig(ip.issuer, up.url()))

	// No credentials: 401 naming both ways in.
	r := get(t, g.url("/v1/orders"))
	p := problemOf(t, r, 401)
	if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, "Bearer") || !strings.Contains(ch, `ApiKey realm="rampart", in="header", name="X-Api-Key"`) {
		t.Fatalf("challenge %q", ch)
	}
	if !strings.Contains(p["detail"].(string), "bearer token") {
		t.Fatalf("detail %q", p["detail"])
	}

	// A valid token: the upstream learns who, never from the client.
	tok := ip.token(t, map[string]string{"sub": "alice", "aud": "orders", "scope": "orders:read"})
	hdr := bearer(tok)
	hdr["X-Rampart-Consumer"] = "admin" // spoofed
	e := echoOf(t, do(t, client, "GET", g.url("/v1/orders"), nil, hdr))
	if e.Headers["X-Rampart-Consumer"] != "alice" || e.Headers["X-Rampart-Scopes"] != "orders:read" {
		t.Fatalf("identity headers upstream: %v", e.Headers)
	}
	if _, ok := e.Headers["Authorization"]; ok {
		t.Fatal("Authorization reached the upstream without forward_authorization")
	}
	verifyAssertion(t, g, e.Headers["X-Rampart-Assertion"], "alice")

	// Refusals: 401 invalid-credentials with RFC 6750 attributes.
	for name, fields := range map[string]map[string]string{
		"wrong audience": {"sub": "alice", "aud": "billing"},
		"expired":        {"sub": "alice", "aud": "orders", "ttl": "-120"},
		"disabled":       {"sub": "blocked", "aud": "orders"},
	} {
		r := do(t, client, "GET", g.url("/v1/orders"), nil, bearer(ip.token(t, fields)))
		problemOf(t, r, 401)
		if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
			t.Fatalf("%s: challenge %q", name, ch)
		}
	}

	// Rotation: tokens of the new key work as soon as the refetch rate
	// limit (5s) allows; tokens of the old key keep working.
	ip.post(t, "/rotate")
	fresh := ip.token(t, map[string]string{"sub": "bob", "aud": "orders"})
	deadline := time.Now().Add(8 * time.Second)
	for {
		r := do(t, client, "GET", g.url("/v1/orders"), nil, bearer(fresh))
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("token of the rotated key still refused: %d %s", r.status, r.body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if r := do(t, client, "GET", g.url("/v1/orders"), nil, bearer(tok)); r.status != 200 {
		t.Fatalf("token of the previous key: %d", r.status)
	}

	// Every refusal is an event with the authenticator's rule.
	waitFor(t, 5*time.Second, "authentication events", func() bool {
		n := 0
		for _, ev := range g.events() {
			if ev["stage"] == "authenticate" && ev["status"] == float64(401) {
				n++
			}
		}
		return n >= 4
	})
}

// verifyAssertion checks X-Rampart-Assertion as an upstream would:
// against the gateway's published JWKS.
func verifyAssertion(t *testing.T, g *gw, assertion, consumer string) {
	t.Helper()
	if assertion == "" {
		t.Fatal("no X-Rampart-Assertion upstream")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	set, err := jwk.Fetch(ctx, "http://"+g.admin+"/.well-known/jwks.json")
	if err != nil {
		t.Fatalf("gateway JWKS: %v", err)
	}
	tok, err := jwt.Parse([]byte(assertion), jwt.WithKeySet(set), jwt.WithIssuer("rampart"), jwt.WithAudience("echo"))
	if err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	if sub, _ := tok.Subject(); sub != consumer {
		t.Fatalf("assertion sub %q", sub)
	}
}

func TestIdentityAPIKeys(t *testing.T) {
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	g := startGateway(t, identityConfig(ip.issuer, up.url()))
	keys := func(args ...string) (string, string) {
		code, out, errs := g.cli(append([]string{"keys"}, args...)...)
		if code != 0 {
			t.Fatalf("rampart keys %v: exit %d\n%s", args, code, errs)
		}
		return out, errs
	}
	key, _ := keys("create", "--consumer", "acme", "--scopes", "orders:read,orders:write")
	if !strings.HasPrefix(key, "rk_") {
		t.Fatalf("key %q", key)
	}
	id := strings.Split(key, "_")[1]
	call := func(k string) response {
		return do(t, client, "GET", g.url("/v1/orders"), nil, map[string]string{"X-API-Key": k})
	}
	var e echoReply
	waitFor(t, 5*time.Second, "key usable", func() bool { return call(key).status == 200 })
	e = echoOf(t, call(key))
	if e.Headers["X-Rampart-Consumer"] != "acme" || e.Headers["X-Rampart-Scopes"] != "orders:read orders:write" {
		t.Fatalf("identity upstream: %v", e.Headers)
	}
	if _, leaked := e.Headers["X-Api-Key"]; leaked {
		t.Fatal("the API key reached the upstream")
	}
	list, _ := keys("list", "--consumer", "acme")
	if !strings.Contains(list, id) || strings.Contains(list, key[len("rk_"+id+"_"):]) {
		t.Fatalf("list shows %q", list)
	}

	// A wrong secret for a real id, and garbage: 401, and the event names
	// the key id, never the secret.
	wrong := key[:len(key)-4] + "aaaa"
	if wrong == key {
		wrong = key[:len(key)-4] + "bbbb"
	}
	problemOf(t, call(wrong), 401)
	problemOf(t, call("not-a-key"), 401)

	// Rotation: both keys work during the overlap.
	next, _ := keys("rotate", "--id", id, "--overlap", "1h")
	waitFor(t, 5*time.Second, "rotated key usable", func() bool { return call(next).status == 200 })
	if r := call(key); r.status != 200 {
		t.Fatalf("old key during overlap: %d", r.status)
	}

	// Revocation reaches the gateway within the sync interval.
	keys("revoke", "--id", id)
	start := time.Now()
	waitFor(t, 5*time.Second, "revoked key refused", func() bool { return call(key).status == 401 })
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("revocation took %v", d)
	}
	p := problemOf(t, call(key), 401)
	if !strings.Contains(p["detail"].(string), "revoked") {
		t.Fatalf("detail %q", p["detail"])
	}
	for _, ev := range g.events() {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), key[len("rk_"+id+"_"):]) {
			t.Fatalf("an event carries the key's secret: %s", b)
		}
	}

	// The admin API offers the same operations.
	res, err := http.Post("http://"+g.admin+"/keys", "application/json", strings.NewReader(`{"consumer":"beta","expires_in":"1h"}`))
	if err != nil {
		t.Fatal(err)
	}
	var issued struct {
		Key  string `json:"key"`
		Info struct {
			State string `json:"state"`
		} `json:"info"`
	}
	_ = json.NewDecoder(res.Body).Decode(&issued)
	res.Body.Close()
	if res.StatusCode != 201 || !strings.HasPrefix(issued.Key, "rk_") || issued.Info.State != "active" {
		t.Fatalf("admin create: %d %+v", res.StatusCode, issued)
	}
	waitFor(t, 5*time.Second, "admin-created key usable", func() bool { return call(issued.Key).status == 200 })
}

func TestIdentityProviderDownIs503(t *testing.T) {
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	g := startGateway(t, fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: "127.0.0.1:0"}
authenticators:
  corp: {type: jwt, issuer: %q, jwks_uri: "http://%s/jwks", audiences: [orders], algorithms: [ES256], timeout: 500ms}
upstreams:
  echo: {targets: [{url: %s}]}
policies:
  api: {authenticate: [corp], authorize: {any_authenticated: true}}
routes:
  - {name: orders, match: {paths: ["/v1/**"]}, upstream: echo, policy: api}
`, ip.issuer, dead, up.url()))
	tok := ip.token(t, map[string]string{"sub": "alice", "aud": "orders"})
	r := do(t, client, "GET", g.url("/v1/orders"), nil, bearer(tok))
	p := problemOf(t, r, 503)
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/identity-provider-unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("problem %v", p)
	}
	if strings.Contains(string(r.body), dead) {
		t.Fatal("the problem leaks the IdP address")
	}
}

// TestIdentityPostgresStore: two gateways share one real PostgreSQL
// store. A key made with the CLI works on both; a revocation through one
// gateway's admin API is refused by the other within its sync interval.
func TestIdentityPostgresStore(t *testing.T) {
	pg := testenv.StartPostgres(t)
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	cfg := strings.Replace(identityConfig(ip.issuer, up.url()),
		"store: {driver: embedded, path: data/rampart.db, sync_interval: 200ms}",
		"store: {driver: postgres, dsn: file:pg.dsn, sync_interval: 200ms}", 1)
	var nodes []*gw
	for range 2 {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "pg.dsn"), pg.DSN+"\n")
		nodes = append(nodes, startGatewayIn(t, dir, cfg))
	}
	out, err := exec.Command(binary, "keys", "create", "--consumer", "acme", "-c", nodes[0].cfg).Output()
	if err != nil {
		t.Fatalf("rampart keys create: %v", err)
	}
	key := strings.TrimSpace(string(out))
	id := strings.Split(key, "_")[1]
	call := func(g *gw) int {
		return do(t, client, "GET", g.url("/v1/orders"), nil, map[string]string{"X-API-Key": key}).status
	}
	for i, g := range nodes {
		waitFor(t, 5*time.Second, fmt.Sprintf("key usable on node %d", i), func() bool { return call(g) == 200 })
	}
	res, err := http.Post("http://"+nodes[1].admin+"/keys/"+id+"/revoke", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("admin revoke: %d", res.StatusCode)
	}
	revoked := time.Now()
	waitFor(t, 5*time.Second, "revocation on the other node", func() bool { return call(nodes[0]) == 401 })
	if d := time.Since(revoked); d > 2*time.Second {
		t.Fatalf("revocation reached the other node after %v", d)
	}
	t.Logf("revocation reached the other node after %v (sync_interval 200ms)", time.Since(revoked).Round(time.Millisecond))
	list, err := exec.Command(binary, "keys", "list", "-c", nodes[1].cfg).Output()
	if err != nil || !strings.Contains(string(list), "revoked") {
		t.Fatalf("keys list: %v\n%s", err, list)
	}
}

// opaqueToken mints a token known only through introspection.
func (i *idp) opaqueToken(t *testing.T, sub string) string {
	return i.token(t, map[string]string{"sub": sub, "aud": "orders", "scope": "orders:read", "format": "opaque"})
}

func (i *idp) introspections(t *testing.T) int { return introspections(t, i.issuer+"/stats") }

// introspections reads the introspection count a test provider reports
// at statsURL.
func introspections(t *testing.T, statsURL string) int {
	t.Helper()
	res, err := http.Get(statsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st struct{ Introspections int }
	_ = json.NewDecoder(res.Body).Decode(&st)
	return st.Introspections
}

// TestIdentityIntrospection: opaque tokens checked at the IdP's RFC 7662
// endpoint with the gateway's client credentials; answers cached; a token
// revoked at the IdP is refused once the cache TTL has passed; JWTs of the
// same IdP still go to the JWT authenticator; a dead endpoint is a 503.
func TestIdentityIntrospection(t *testing.T) {
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "introspection.secret"), "introspection-secret\n")
	g := startGatewayIn(t, dir, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
authenticators:
  idp: {type: oidc, issuer: %[1]q, audiences: [orders], algorithms: [ES256]}
  opaque:
    type: oauth2_introspection
    endpoint: %[1]s/introspect
    client_id: rampart
    client_secret: file:introspection.secret
    issuer: %[1]q
    audiences: [orders]
    cache_ttl: 1s
    negative_cache_ttl: 1s
    timeout: 1s
upstreams:
  echo: {targets: [{url: %[2]s}]}
policies:
  api: {authenticate: [idp, opaque], authorize: {any_authenticated: true}}
routes:
  - {name: orders, match: {paths: ["/v1/**"]}, upstream: echo, policy: api}
`, ip.issuer, up.url()))
	call := func(tok string) response { return do(t, client, "GET", g.url("/v1/orders"), nil, bearer(tok)) }

	tok := ip.opaqueToken(t, "alice")
	r := call(tok)
	if r.status != 200 {
		t.Fatalf("opaque token: %d %s", r.status, r.body)
	}
	e := echoOf(t, r)
	if e.Headers["X-Rampart-Consumer"] != "alice" || e.Headers["X-Rampart-Scopes"] != "orders:read" || e.Headers["Authorization"] != "" {
		t.Fatalf("upstream saw %v", e.Headers)
	}
	before := ip.introspections(t)
	for range 5 {
		if r := call(tok); r.status != 200 {
			t.Fatalf("cached token: %d", r.status)
		}
	}
	if n := ip.introspections(t) - before; n > 1 {
		t.Fatalf("%d introspections for 5 uses within cache_ttl", n)
	}
	// A JWT of the same IdP is still verified locally.
	if r := call(ip.token(t, map[string]string{"sub": "bob", "aud": "orders"})); r.status != 200 {
		t.Fatalf("JWT beside introspection: %d %s", r.status, r.body)
	}

	// Revoked at the IdP: refused within cache_ttl (1s).
	res, err := http.PostForm(ip.issuer+"/revoke", url.Values{"token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	revoked := time.Now()
	waitFor(t, 5*time.Second, "revoked token refused", func() bool { return call(tok).status == 401 })
	if d := time.Since(revoked); d > 2*time.Second {
		t.Fatalf("revocation took %v with cache_ttl 1s", d)
	}
	r = call(tok)
	p := problemOf(t, r, 401)
	if !strings.Contains(p["detail"].(string), "not active") ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("refusal: %v %q", p["detail"], r.header.Get("WWW-Authenticate"))
	}
	if strings.Contains(string(r.body), tok) {
		t.Fatal("the problem repeats the token")
	}

	// The endpoint gone: an uncached token gets 503, never 401 or 200.
	fresh := ip.opaqueToken(t, "carol")
	ip.signal(t, syscall.SIGKILL)
	ip.wait(t, 5*time.Second)
	r = call(fresh)
	p = problemOf(t, r, 503)
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/identity-provider-unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("problem %v", p)
	}
}

// TestIdentityDPoP: a DPoP-bound token from the IdP works only with a
// fresh proof by the client's key for this very request; the proof does
// not travel upstream.
func TestIdentityDPoP(t *testing.T) {
	ip := startIdP(t)
	up := startUpstream(t, "orders")
	g := startGateway(t, identityConfig(ip.issuer, up.url()))
	key := dpoptest.NewClient(t, "ES256")
	tok := ip.token(t, map[string]string{"sub": "alice", "aud": "orders", "extra": `{"cnf":{"jkt":"` + key.JKT + `"}}`})
	htu := g.url("/v1/orders")
	proof := key.Proof("GET", htu, tok, time.Now(), nil)
	call := func(scheme, proof string) response {
		h := map[string]string{"Authorization": scheme + " " + tok}
		if proof != "" {
			h["DPoP"] = proof
		}
		return do(t, client, "GET", htu, nil, h)
	}
	r := call("DPoP", proof)
	if r.status != 200 {
		t.Fatalf("DPoP request: %d %s", r.status, r.body)
	}
	if e := echoOf(t, r); e.Headers["Dpop"] != "" || e.Headers["X-Rampart-Consumer"] != "alice" {
		t.Fatalf("upstream saw %v", e.Headers)
	}
	r = call("DPoP", proof)
	p := problemOf(t, r, 401)
	if !strings.Contains(p["detail"].(string), "already used") || !strings.Contains(r.header.Get("WWW-Authenticate"), `DPoP realm="rampart"`) ||
		!strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
		t.Fatalf("replay: %v %q", p["detail"], r.header.Get("WWW-Authenticate"))
	}
	problemOf(t, call("Bearer", ""), 401)
	problemOf(t, call("DPoP", key.Proof("POST", htu, tok, time.Now(), nil)), 401)
}
