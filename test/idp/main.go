// Command idp is the identity provider the end-to-end tests run as a
// separate process: OIDC discovery, a JWKS with key rotation, and a token
// endpoint that mints ES256 access tokens for the claims it is given. It
// is test equipment: it authenticates nobody.
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
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

type provider struct {
	issuer string
	mu     sync.Mutex
	keys   []jwk.Key // keys[len-1] signs; all are published
	n      int
}

func (p *provider) rotate() {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, _ := jwk.Import(priv)
	p.n++
	_ = k.Set(jwk.KeyIDKey, "key-"+strconv.Itoa(p.n))
	_ = k.Set(jwk.AlgorithmKey, jwa.ES256())
	p.keys = append(p.keys, k)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	p := &provider{issuer: "http://" + ln.Addr().String()}
	p.rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.issuer, "jwks_uri": p.issuer + "/jwks",
			"token_endpoint": p.issuer + "/token", "id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		set := jwk.NewSet()
		for _, k := range p.keys {
			pub, _ := k.PublicKey()
			_ = set.AddKey(pub)
		}
		p.mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=300")
		_ = json.NewEncoder(w).Encode(set)
	})
	// POST /token: form fields sub, aud, scope, ttl (seconds, may be
	// negative), iss (override), extra (a JSON object of more claims).
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
		payload, _ := json.Marshal(claims)
		p.mu.Lock()
		key := p.keys[len(p.keys)-1]
		p.mu.Unlock()
		kid, _ := key.KeyID()
		hdr := jws.NewHeaders()
		_ = hdr.Set(jws.KeyIDKey, kid)
		_ = hdr.Set(jws.TypeKey, "at+jwt")
		tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), key, jws.WithProtectedHeaders(hdr)))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		tok = lowS(tok)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": string(tok), "token_type": "Bearer", "expires_in": ttl})
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

// lowS rewrites an ES256 signature to its low-S form, as strict verifiers
// (Rampart among them) require; jwx signs with either half.
func lowS(tok []byte) []byte {
	parts := strings.Split(string(tok), ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return tok
	}
	n := elliptic.P256().Params().N
	sv := new(big.Int).SetBytes(sig[32:])
	if sv.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
		sv.Sub(n, sv)
		sv.FillBytes(sig[32:])
	}
	parts[2] = base64.RawURLEncoding.EncodeToString(sig)
	return []byte(strings.Join(parts, "."))
}
