package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/identity"
)

const testIssuer = "https://idp.bench.local"

// jwtSetup is a gateway whose jwt authenticator trusts a key of the
// test's, with the JWKS served by the upstream next to the application.
type jwtSetup struct {
	g   *Gateway
	key *ecdsa.PrivateKey
}

// newJWTSetup starts app behind a gateway with three routes: /jwt/items
// (a token), /authz/{account}/items (a token, a scope, a role and a CEL
// condition) and /api/v1/items (public).
func newJWTSetup(tb testing.TB, app http.Handler) *jwtSetup {
	tb.Helper()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b64 := base64.RawURLEncoding
	pt, _ := ec.PublicKey.ECDH()
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256",
		"x": b64.EncodeToString(pt.Bytes()[1:33]), "y": b64.EncodeToString(pt.Bytes()[33:])}}})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/jwks" {
			_, _ = w.Write(jwks)
			return
		}
		app.ServeHTTP(w, r)
	}))
	tb.Cleanup(up.Close)
	dir := tb.TempDir()
	cfg, err := config.ParseWith(dir+"/r.yaml", []byte(fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {disabled: true}
access_log: {path: %[1]s/access.log}
events: {sinks: [{type: jsonl, path: %[1]s/events.jsonl}]}
authenticators:
  idp: {type: jwt, issuer: %[3]q, jwks_uri: "%[2]s/jwks", audiences: [bench], algorithms: [ES256]}
upstreams:
  api: {targets: [{url: %[2]s}]}
consumers:
  - {id: bench-client, roles: [reader], attributes: {account: acme}}
roles:
  reader: {allow: [{methods: [GET], paths: ["/authz/{account}/items"]}]}
policies:
  jwt: {authenticate: [idp], authorize: {any_authenticated: true}}
  authz:
    authenticate: [idp]
    authorize: {scopes: [items:read], roles: [reader], when: "request.params.account == consumer.attributes.account"}
routes:
  - {name: jwt, match: {paths: ["/jwt/items"]}, upstream: api, policy: jwt}
  - {name: authz, match: {paths: ["/authz/{account}/items"]}, upstream: api, policy: authz}
  - {name: items, match: {paths: ["/api/v1/items", "/api/v1/items/{id}"]}, upstream: api, policy: public}
`, dir, up.URL, testIssuer)), func(string) (string, bool) { return "", false }, LoadOptions(false, nil))
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.Shutdown(tb.Context()) })
	return &jwtSetup{g: g, key: ec}
}

// token returns an ES256 token for the gateway's authenticator with the
// test's claims over valid defaults (sub bench-client, scope items:read).
func (s *jwtSetup) token(claims map[string]any) string {
	b64 := base64.RawURLEncoding
	c := map[string]any{"iss": testIssuer, "aud": "bench", "sub": "bench-client", "scope": "items:read",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	h, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": "ec", "typ": "JWT"})
	cb, _ := json.Marshal(c)
	in := b64.EncodeToString(h) + "." + b64.EncodeToString(cb)
	sig, _ := identity.SignES256AsIs(s.key, []byte(in))
	return in + "." + b64.EncodeToString(sig)
}

// BenchmarkServeHTTP measures the whole request path in process: stages
// 1-3, the body guard, authentication where the route asks for it, the
// proxy to a loopback upstream with pooled connections, the access log and
// metrics. The HTTP server in front (the client side) is not included.
// The jwt case is a cached verification (the steady state): what it adds
// over public is the per-request cost of the identity stages; authorize
// adds a scope, a role and a CEL condition on a path parameter.
func BenchmarkServeHTTP(b *testing.B) {
	body := []byte(`{"items":[{"id":1}]}`)
	s := newJWTSetup(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(body)
	}))
	token := s.token(nil)
	for _, tc := range []struct{ name, target, auth string }{
		{"public", "http://api.example.com/api/v1/items?page=2&sort=name", ""},
		{"jwt", "http://api.example.com/jwt/items?page=2&sort=name", "Bearer " + token},
		{"authorize", "http://api.example.com/authz/acme/items?page=2&sort=name", "Bearer " + token},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", tc.target, nil)
			req.RemoteAddr = "192.0.2.10:51234"
			req.Header.Set("Accept", "application/json")
			req.Header.Set("User-Agent", "bench/1")
			auth := []string{tc.auth}
			b.ReportAllocs()
			for b.Loop() {
				if tc.auth != "" {
					req.Header["Authorization"] = auth // the identity stage removes it
				}
				w := httptest.NewRecorder()
				s.g.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				_, _ = io.Copy(io.Discard, w.Body)
			}
		})
	}
}
