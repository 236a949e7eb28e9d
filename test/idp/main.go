// Command idp is the identity provider the end-to-end tests run as a
// separate process: OIDC discovery, a JWKS with key rotation, a token
// endpoint that mints ES256 access tokens (or opaque ones) for the claims
// it is given, RFC 7662 introspection behind client authentication, and
// RFC 7009 revocation. It is test equipment: it authenticates no user.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/rampart-gw/rampart/internal/identity"
)

type provider struct {
	issuer string
	mu     sync.Mutex
	keys   []signingKey // keys[len-1] signs; all are published
	n      int
	opaque map[string]map[string]any // opaque token -> its claims
	// revoked opaque tokens; introspections counts calls to /introspect.
	revoked        map[string]bool
	introspections int
}

type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
	pub  jwk.Key
}

func (p *provider) rotate() {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.n++
	kid := "key-" + strconv.Itoa(p.n)
	pub, _ := jwk.Import(&priv.PublicKey)
	_ = pub.Set(jwk.KeyIDKey, kid)
	_ = pub.Set(jwk.AlgorithmKey, jwa.ES256())
	p.keys = append(p.keys, signingKey{kid: kid, priv: priv, pub: pub})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	clientID := flag.String("client-id", "rampart", "the client allowed to introspect")
	clientSecret := flag.String("client-secret", "introspection-secret", "its secret")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	p := &provider{issuer: "http://" + ln.Addr().String(), opaque: map[string]map[string]any{}, revoked: map[string]bool{}}
	p.rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.issuer, "jwks_uri": p.issuer + "/jwks",
			"token_endpoint": p.issuer + "/token", "id_token_signing_alg_values_supported": []string{"ES256"},
			"introspection_endpoint": p.issuer + "/introspect", "revocation_endpoint": p.issuer + "/revoke",
			"introspection_endpoint_auth_methods_supported": []string{"client_secret_basic"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		set := jwk.NewSet()
		for _, k := range p.keys {
			_ = set.AddKey(k.pub)
		}
		p.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=300")
		_ = json.NewEncoder(w).Encode(set)
	})
	// POST /token: form fields sub, aud, scope, ttl (seconds, may be
	// negative), iss (override), extra (a JSON object of more claims),
	// format=opaque for a random token known only through introspection.
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		ttl, _ := strconv.Atoi(r.Form.Get("ttl"))
		if ttl == 0 {
			ttl = 300
		}
		now := time.Now()
		claims := map[string]any{"iss": p.issuer, "sub": r.Form.Get("sub"), "aud": r.Form.Get("aud"),
			"iat": now.Unix(), "exp": now.Add(time.Duration(ttl) * time.Second).Unix()}
		if s := r.Form.Get("scope"); s != "" {
			claims["scope"] = s
		}
		if s := r.Form.Get("iss"); s != "" {
			claims["iss"] = s
		}
		if s := r.Form.Get("extra"); s != "" {
			_ = json.Unmarshal([]byte(s), &claims)
		}
		if r.Form.Get("format") == "opaque" {
			raw := make([]byte, 32)
			_, _ = rand.Read(raw)
			tok := base64.RawURLEncoding.EncodeToString(raw)
			p.mu.Lock()
			p.opaque[tok] = claims
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": ttl})
			return
		}
		payload, _ := json.Marshal(claims)
		p.mu.Lock()
		key := p.keys[len(p.keys)-1]
		p.mu.Unlock()
		hdr, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": key.kid, "typ": "at+jwt"})
		b64 := base64.RawURLEncoding
		input := b64.EncodeToString(hdr) + "." + b64.EncodeToString(payload)
		sig, err := identity.SignES256AsIs(key.priv, []byte(input))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		tok := input + "." + b64.EncodeToString(sig)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": ttl})
	})
	// POST /introspect (RFC 7662), for the configured client only, with
	// its credentials form-encoded inside Basic (RFC 6749 §2.3.1).
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if !ok || id != *clientID || secret != *clientSecret {
			w.Header().Set("WWW-Authenticate", `Basic realm="idp"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_ = r.ParseForm()
		tok := r.PostForm.Get("token")
		p.mu.Lock()
		p.introspections++
		claims, known := p.opaque[tok]
		active := known && !p.revoked[tok]
		p.mu.Unlock()
		answer := map[string]any{"active": false}
		if exp, _ := claims["exp"].(int64); active && time.Now().Unix() < exp {
			answer = map[string]any{"active": true, "token_type": "Bearer", "client_id": "test-client"}
			for k, v := range claims {
				answer[k] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(answer)
	})
	// POST /revoke (RFC 7009): the token is inactive from now on.
	mux.HandleFunc("POST /revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		p.revoked[r.PostForm.Get("token")] = true
		p.mu.Unlock()
	})
	// GET /stats: how often the gateway introspected, for cache checks.
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		n := p.introspections
		p.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]int{"introspections": n})
	})
	// POST /rotate: a new signing key; the old ones stay published.
	mux.HandleFunc("POST /rotate", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.rotate()
		p.mu.Unlock()
	})
	// POST /retire: unpublish every key but the current one.
	mux.HandleFunc("POST /retire", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.keys = p.keys[len(p.keys)-1:]
		p.mu.Unlock()
	})
	log.SetFlags(0)
	fmt.Fprintf(os.Stderr, "idp listening on %s\n", strings.TrimPrefix(p.issuer, "http://"))
	log.Fatal((&http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}).Serve(ln))
}
