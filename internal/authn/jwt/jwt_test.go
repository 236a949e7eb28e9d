package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authn/dpop"
	"github.com/rampart-gw/rampart/internal/authn/dpop/dpoptest"
	"github.com/rampart-gw/rampart/internal/authn/jwks"
	"github.com/rampart-gw/rampart/internal/identity"
)

const issuer = "https://idp.test"

type keys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
}

func newKeys(t testing.TB) *keys {
	r1, _ := rsa.GenerateKey(rand.Reader, 2048)
	r2, _ := rsa.GenerateKey(rand.Reader, 2048)
	e, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &keys{rsa: r1, rsaOther: r2, ec: e}
}

// jwksServer serves the public halves of k over real HTTP.
func jwksServer(t testing.TB, k *keys) *httptest.Server {
	set := jwk.NewSet()
	for kid, pub := range map[string]any{"rsa1": &k.rsa.PublicKey, "ec1": &k.ec.PublicKey} {
		jk, err := jwk.Import(pub)
		if err != nil {
			t.Fatal(err)
		}
		_ = jk.Set(jwk.KeyIDKey, kid)
		_ = set.AddKey(jk)
	}
	body, _ := json.Marshal(set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func token(hdr, claims map[string]any, sign func([]byte) []byte) string {
	hb, _ := json.Marshal(hdr)
	cb, _ := json.Marshal(claims)
	input := b64.EncodeToString(hb) + "." + b64.EncodeToString(cb)
	return input + "." + b64.EncodeToString(sign([]byte(input)))
}

// rawToken signs JSON exactly as given, for what json.Marshal of a map
// cannot produce: repeated members, odd spellings.
func rawToken(hdr, claims string, sign func([]byte) []byte) string {
	input := b64.EncodeToString([]byte(hdr)) + "." + b64.EncodeToString([]byte(claims))
	return input + "." + b64.EncodeToString(sign([]byte(input)))
}

func rs256(k *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		h := sha256.Sum256(in)
		sig, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		return sig
	}
}

func es256(k *ecdsa.PrivateKey, highS bool) func([]byte) []byte {
	return func(in []byte) []byte {
		h := sha256.Sum256(in)
		r, s, _ := ecdsa.Sign(rand.Reader, k, h[:])
		half := new(big.Int).Rsh(k.Curve.Params().N, 1)
		if (s.Cmp(half) > 0) != highS { // put s in the asked half
			s = new(big.Int).Sub(k.Curve.Params().N, s)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

func claimsNow(now time.Time) map[string]any {
	return map[string]any{"iss": issuer, "aud": "orders", "sub": "alice", "scope": "orders:read orders:write",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix()}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func newAuth(t testing.TB, srv *httptest.Server, now time.Time) *Authenticator {
	set := jwks.New(jwks.Options{Name: "corp", JWKSURI: srv.URL, Refresh: time.Minute, StaleFor: time.Hour, Timeout: 2 * time.Second})
	set.Start()
	t.Cleanup(set.Close)
	return New(Options{Name: "corp", Method: "jwt", Issuer: issuer, Audiences: []string{"orders"}, Algorithms: []string{"RS256", "ES256"},
		ClockSkew: 30 * time.Second, ConsumerClaim: "sub", MaxTokenBytes: 8 << 10, CacheTTL: 5 * time.Minute, Keys: set,
		Now: func() time.Time { return now }})
}

func request(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func TestAttacks(t *testing.T) {
	k := newKeys(t)
	srv := jwksServer(t, k)
	now := time.Now()
	a := newAuth(t, srv, now)
	c := claimsNow(now)
	rsaHdr := map[string]any{"alg": "RS256", "kid": "rsa1", "typ": "JWT"}
	ecHdr := map[string]any{"alg": "ES256", "kid": "ec1"}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&k.rsa.PublicKey))})
	hs256 := func(secret []byte) func([]byte) []byte {
		return func(in []byte) []byte { m := hmac.New(sha256.New, secret); m.Write(in); return m.Sum(nil) }
	}
	attackerJWK, _ := jwk.Import(&k.rsaOther.PublicKey)
	valid := token(rsaHdr, c, rs256(k.rsa))

	tests := []struct {
		name, tok, reason string
	}{
		{"valid RS256", valid, ""},
		{"valid ES256", token(ecHdr, c, es256(k.ec, false)), ""},
		{"alg none", token(with(rsaHdr, "alg", "none"), c, func([]byte) []byte { return nil }), "bad_alg"},
		{"alg none, empty signature part", strings.TrimSuffix(token(with(rsaHdr, "alg", "none"), c, func([]byte) []byte { return nil }), "."), "malformed"},
		{"RS256 to HS256 with the public key as secret", token(with(rsaHdr, "alg", "HS256"), c, hs256(pubPEM)), "bad_alg"},
		{"unknown kid", token(with(rsaHdr, "kid", "nope"), c, rs256(k.rsa)), "unknown_key"},
		{"kid path traversal", token(with(rsaHdr, "kid", "../../../../dev/null"), c, rs256(k.rsa)), "unknown_key"},
		{"jku elsewhere", token(with(rsaHdr, "jku", "https://evil.test/keys"), c, rs256(k.rsaOther)), "foreign_key_source"},
		{"x5u elsewhere", token(with(rsaHdr, "x5u", "https://evil.test/cert"), c, rs256(k.rsaOther)), "foreign_key_source"},
		{"embedded jwk", token(with(rsaHdr, "jwk", attackerJWK), c, rs256(k.rsaOther)), "foreign_key_source"},
		{"expired", token(rsaHdr, with(c, "exp", now.Add(-time.Minute).Unix()), rs256(k.rsa)), "expired"},
		{"expired within skew is accepted", token(rsaHdr, with(c, "exp", now.Add(-10*time.Second).Unix()), rs256(k.rsa)), ""},
		{"no exp", token(rsaHdr, with(c, "exp", nil), rs256(k.rsa)), "no_expiry"},
		{"not yet valid", token(rsaHdr, with(c, "nbf", now.Add(time.Hour).Unix()), rs256(k.rsa)), "not_yet_valid"},
		{"issued in the future", token(rsaHdr, with(c, "iat", now.Add(time.Hour).Unix()), rs256(k.rsa)), "issued_in_future"},
		{"wrong issuer", token(rsaHdr, with(c, "iss", "https://other.test"), rs256(k.rsa)), "wrong_issuer"},
		{"wrong audience", token(rsaHdr, with(c, "aud", "billing"), rs256(k.rsa)), "wrong_audience"},
		{"audience list without ours", token(rsaHdr, with(c, "aud", []string{"billing", "ledger"}), rs256(k.rsa)), "wrong_audience"},
		{"audience list with ours", token(rsaHdr, with(c, "aud", []string{"billing", "orders"}), rs256(k.rsa)), ""},
		{"unknown crit", token(with(rsaHdr, "crit", []string{"exp-ext"}, "exp-ext", 1), c, rs256(k.rsa)), "unsupported_crit"},
		{"truncated signature", valid[:len(valid)-10], "bad_signature"},
		{"signature of another key", token(rsaHdr, c, rs256(k.rsaOther)), "bad_signature"},
		{"claims changed after signing", strings.Split(valid, ".")[0] + "." + b64.EncodeToString(must(json.Marshal(with(c, "sub", "admin")))) + "." + strings.Split(valid, ".")[2], "bad_signature"},
		{"ES256 with high S (as crypto/ecdsa and most IdPs sign half the time)", token(ecHdr, c, es256(k.ec, true)), ""},
		{"ES256 with s = 0", token(ecHdr, c, func([]byte) []byte { return make([]byte, 64) }), "bad_signature"},
		{"ES256 signature of 63 bytes", token(ecHdr, c, func(in []byte) []byte { return es256(k.ec, false)(in)[:63] }), "bad_signature"},
		{"RS256 header on the EC key", token(with(rsaHdr, "kid", "ec1"), c, rs256(k.rsa)), "bad_signature"},
		{"no subject", token(rsaHdr, with(c, "sub", nil), rs256(k.rsa)), "no_consumer"},
		{"DPoP-bound without proof", token(rsaHdr, with(c, "cnf", map[string]string{"jkt": "abc"}), rs256(k.rsa)), "dpop_required"},
		{"certificate-bound without TLS", token(rsaHdr, with(c, "cnf", map[string]string{"x5t#S256": "abc"}), rs256(k.rsa)), "certificate_required"},
		{"1 MiB token", "eyJ" + strings.Repeat("A", 1<<20), "too_large"},
		{"not a JWT", "opaque-token", "malformed"},
		// Parser differentials: members are matched by exact name, once.
		{"repeated sub (a last-wins reader sees admin)", rawToken(`{"alg":"RS256","kid":"rsa1"}`, fmt.Sprintf(`{"iss":%q,"aud":"orders","exp":%d,"sub":"alice","sub":"admin"}`, issuer, now.Add(time.Hour).Unix()), rs256(k.rsa)), "malformed"},
		{"repeated alg", rawToken(`{"alg":"RS256","kid":"rsa1","alg":"none"}`, string(must(json.Marshal(c))), rs256(k.rsa)), "malformed"},
		{"EXP in capitals only", rawToken(`{"alg":"RS256","kid":"rsa1"}`, fmt.Sprintf(`{"iss":%q,"aud":"orders","EXP":%d,"sub":"alice"}`, issuer, now.Add(time.Hour).Unix()), rs256(k.rsa)), "no_expiry"},
		{"exp as a quoted number", rawToken(`{"alg":"RS256","kid":"rsa1"}`, fmt.Sprintf(`{"iss":%q,"aud":"orders","exp":"%d","sub":"alice"}`, issuer, now.Add(time.Hour).Unix()), rs256(k.rsa)), "no_expiry"},
		{"ALG in capitals only", rawToken(`{"ALG":"RS256","kid":"rsa1"}`, string(must(json.Marshal(c))), rs256(k.rsa)), "bad_alg"},
		{"trailing data after the claims", rawToken(`{"alg":"RS256","kid":"rsa1"}`, string(must(json.Marshal(c)))+`{}`, rs256(k.rsa)), "malformed"},
		{"sub not a string", token(rsaHdr, with(c, "sub", 7), rs256(k.rsa)), "no_consumer"},
		{"typ of a DPoP proof", token(with(rsaHdr, "typ", "dpop+jwt"), c, rs256(k.rsa)), "bad_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := a.Authenticate(request(tt.tok))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.Consumer != "alice" || strings.Join(id.Scopes, " ") != "orders:read orders:write" {
					t.Fatalf("identity %+v", id)
				}
				return
			}
			var f *authn.Failure
			if !errors.As(err, &f) || f.Unavailable || f.Reason != tt.reason {
				t.Fatalf("got %v, want refusal %s", err, tt.reason)
			}
			if strings.Contains(f.Description, "crypto") || strings.Contains(f.Description, "verification error") {
				t.Fatalf("description leaks library text: %s", f.Description)
			}
		})
	}
}

// TestES256AsIdPsSign: tokens signed with plain crypto/ecdsa.Sign, whose
// s falls in the upper half of the group order about half the time, are
// all accepted, and a token and its high-S twin are the same identity.
// With RequireLowS, exactly the high-S ones are refused, with a reason
// that says so.
func TestES256AsIdPsSign(t *testing.T) {
	k := newKeys(t)
	srv := jwksServer(t, k)
	now := time.Now()
	a := newAuth(t, srv, now)
	strict := newAuth(t, srv, now)
	strict.o.RequireLowS = true
	ecHdr := map[string]any{"alg": "ES256", "kid": "ec1"}
	high, refused := 0, 0
	for i := range 200 {
		tok := token(ecHdr, with(claimsNow(now), "jti", fmt.Sprint(i)), func(in []byte) []byte {
			sig, err := identity.SignES256AsIs(k.ec, in)
			if err != nil {
				t.Fatal(err)
			}
			return sig
		})
		if _, err := a.Authenticate(request(tok)); err != nil {
			t.Fatalf("token %d refused: %v", i, err)
		}
		sig, _ := b64.DecodeString(strings.Split(tok, ".")[2])
		isHigh := !lowS(k.ec.Curve, sig)
		if isHigh {
			high++
		}
		_, err := strict.Authenticate(request(tok))
		var f *authn.Failure
		switch {
		case isHigh && (!errors.As(err, &f) || f.Reason != "high_s_signature"):
			t.Fatalf("strict: high-S token %d: %v", i, err)
		case !isHigh && err != nil:
			t.Fatalf("strict: low-S token %d: %v", i, err)
		case err != nil:
			refused++
		}
	}
	if high < 60 || high > 140 || refused != high {
		t.Fatalf("%d of 200 signatures were high-S, %d refused by the strict verifier", high, refused)
	}
	// Twins: the same claims under s and n-s are one identity.
	c := claimsNow(now)
	lo, hi := token(ecHdr, c, es256(k.ec, false)), token(ecHdr, c, es256(k.ec, true))
	id1, err1 := a.Authenticate(request(lo))
	id2, err2 := a.Authenticate(request(hi))
	if err1 != nil || err2 != nil || id1.Consumer != id2.Consumer {
		t.Fatalf("twins: %v %v", err1, err2)
	}
}

func TestCacheHonoursExpiry(t *testing.T) {
	k := newKeys(t)
	srv := jwksServer(t, k)
	now := time.Now()
	clock := now
	a := newAuth(t, srv, now)
	a.o.Now = func() time.Time { return clock }
	tok := token(map[string]any{"alg": "ES256", "kid": "ec1"}, with(claimsNow(now), "exp", now.Add(2*time.Minute).Unix()), es256(k.ec, false))
	for i := 0; i < 3; i++ {
		id, err := a.Authenticate(request(tok))
		if err != nil {
			t.Fatal(err)
		}
		id.Scopes = append(id.Scopes, "mutated") // a caller's change must not reach the cache
	}
	if id, _ := a.Authenticate(request(tok)); len(id.Scopes) != 2 {
		t.Fatalf("cached identity was mutated: %v", id.Scopes)
	}
	// Two requests of the same token append their consumers' scopes
	// without writing into each other's (the cached array's) spare room.
	id1, _ := a.Authenticate(request(tok))
	id2, _ := a.Authenticate(request(tok))
	id1.Scopes = append(id1.Scopes, "one")
	id2.Scopes = append(id2.Scopes, "two")
	if id1.Scopes[2] != "one" || id2.Scopes[2] != "two" {
		t.Fatalf("appends share an array: %v %v", id1.Scopes, id2.Scopes)
	}
	clock = now.Add(3 * time.Minute)
	if _, err := a.Authenticate(request(tok)); err == nil {
		t.Fatal("expired token served from the cache")
	}
}

// TestCacheHonoursKeyRetirement: a verified token stays cached only while
// the key that verified it is published; retired or replaced, the token
// is verified again and refused.
func TestCacheHonoursKeyRetirement(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	keys := staticKeys{"ec1": {ID: "ec1", Public: &ec.PublicKey}}
	a := New(Options{Name: "corp", Method: "jwt", Issuer: issuer, Audiences: []string{"orders"}, Algorithms: []string{"ES256"},
		ConsumerClaim: "sub", MaxTokenBytes: 8 << 10, CacheTTL: 5 * time.Minute, Keys: keys, Now: func() time.Time { return now }})
	tok := token(map[string]any{"alg": "ES256", "kid": "ec1"}, claimsNow(now), es256(ec, false))
	if _, err := a.Authenticate(request(tok)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  *jwks.Key
	}{
		{"replaced under the same kid", &jwks.Key{ID: "ec1", Public: &other.PublicKey}},
		{"retired", nil},
	} {
		if tc.key != nil {
			keys["ec1"] = *tc.key
		} else {
			delete(keys, "ec1")
		}
		if _, err := a.Authenticate(request(tok)); err == nil {
			t.Fatalf("%s: a cached token outlived its key", tc.name)
		}
	}
}

func TestUnreachableIdPIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	set := jwks.New(jwks.Options{Name: "corp", JWKSURI: srv.URL, Refresh: time.Minute, StaleFor: time.Hour, Timeout: time.Second})
	set.Start()
	defer set.Close()
	k := newKeys(t)
	a := New(Options{Name: "corp", Issuer: issuer, Audiences: []string{"orders"}, Algorithms: []string{"RS256"}, ConsumerClaim: "sub",
		MaxTokenBytes: 8 << 10, Keys: set})
	_, err := a.Authenticate(request(token(map[string]any{"alg": "RS256", "kid": "rsa1"}, claimsNow(time.Now()), rs256(k.rsa))))
	var f *authn.Failure
	if !errors.As(err, &f) || !f.Unavailable {
		t.Fatalf("got %v, want unavailable", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkAuthenticate: a token seen before (a hash and a map read) and
// a full verification, for each signature algorithm.
func BenchmarkAuthenticate(b *testing.B) {
	k := newKeys(b)
	srv := jwksServer(b, k)
	toks := map[string]string{
		"ES256": token(map[string]any{"alg": "ES256", "kid": "ec1"}, claimsNow(time.Now()), es256(k.ec, false)),
		"RS256": token(map[string]any{"alg": "RS256", "kid": "rsa1"}, claimsNow(time.Now()), rs256(k.rsa)),
	}
	for _, alg := range []string{"ES256", "RS256"} {
		for _, cached := range []bool{true, false} {
			name := alg + "/uncached"
			if cached {
				name = alg + "/cached"
			}
			b.Run(name, func(b *testing.B) {
				a := newAuth(b, srv, time.Now())
				if !cached {
					a.cache = nil
				}
				r := request(toks[alg])
				if _, err := a.Authenticate(r); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := a.Authenticate(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestDPoPBoundTokens: a token with cnf.jkt needs the DPoP scheme and a
// fresh proof by that key on every use, cached or not.
func TestDPoPBoundTokens(t *testing.T) {
	k := newKeys(t)
	srv := jwksServer(t, k)
	now := time.Now()
	a := newAuth(t, srv, now)
	a.o.Proofs = dpop.New(func() time.Time { return now })
	client := dpoptest.NewClient(t, "ES256")
	hdr := map[string]any{"alg": "RS256", "kid": "rsa1", "typ": "at+jwt"}
	bound := token(hdr, with(claimsNow(now), "cnf", map[string]string{"jkt": client.JKT}), rs256(k.rsa))
	plain := token(hdr, claimsNow(now), rs256(k.rsa))
	const htu = "http://example.com/v1/orders"
	use := func(scheme, tok, proof string) string {
		r := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
		r.Header.Set("Authorization", scheme+" "+tok)
		if proof != "" {
			r.Header.Set("DPoP", proof)
		}
		_, err := a.Authenticate(r)
		var f *authn.Failure
		if errors.As(err, &f) {
			return f.Reason
		}
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	first := client.Proof("GET", htu, bound, now, nil)
	for _, tc := range []struct{ name, scheme, tok, proof, want string }{
		{"bound, with a proof", "DPoP", bound, first, "ok"},
		{"bound, cached, a new proof", "DPoP", bound, client.Proof("GET", htu, bound, now, nil), "ok"},
		{"bound, cached, the proof replayed", "DPoP", bound, first, "dpop_replay"},
		{"bound, no proof", "DPoP", bound, "", "dpop_proof_missing"},
		{"bound, sent as Bearer", "Bearer", bound, client.Proof("GET", htu, bound, now, nil), "dpop_required"},
		{"bound, proof by another key", "DPoP", bound, dpoptest.NewClient(t, "ES256").Proof("GET", htu, bound, now, nil), "dpop_key_mismatch"},
		{"bound, proof for another token", "DPoP", bound, client.Proof("GET", htu, plain, now, nil), "dpop_proof_invalid"},
		{"unbound, sent as DPoP", "DPoP", plain, client.Proof("GET", htu, plain, now, nil), "not_dpop_bound"},
		{"unbound, Bearer", "Bearer", plain, "", "ok"},
	} {
		if got := use(tc.scheme, tc.tok, tc.proof); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	a.o.DPoPRequired = true
	if got := use("Bearer", plain, ""); got != "dpop_required" || !strings.HasPrefix(a.Challenge(), "DPoP ") {
		t.Errorf("dpop_required: %s, challenge %q", got, a.Challenge())
	}
}
