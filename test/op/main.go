// Command op is an OpenID provider built on zitadel/oidc's op package, a
// maintained (OpenID-certified) provider library, so that the end-to-end
// tests check the gateway against someone else's reading of the specs and
// not only against test/idp, which we wrote ourselves.
//
// It serves what a gateway meets in production: discovery, a JWKS, the
// client-credentials grant issuing JWT or opaque access tokens, RFC 7662
// introspection and RFC 7009 revocation behind client authentication. The
// storage behind the library is this file's: clients are fixed, tokens live
// in memory, and /admin/rotate and /admin/retire rotate the signing keys
// mid-test. It authenticates no user: there is no login, so the flows that
// need one (authorization code, device, refresh) are refused.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	alg := flag.String("alg", "RS256", "signing algorithm: RS256 or ES256")
	ttl := flag.Duration("ttl", 5*time.Minute, "access token lifetime")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	st, err := newStorage(issuer, jose.SignatureAlgorithm(*alg), *ttl)
	if err != nil {
		log.Fatal(err)
	}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		log.Fatal(err)
	}
	provider, err := op.NewProvider(&op.Config{CryptoKey: cryptoKey, CryptoKeyId: "opaque-1"}, st,
		op.StaticIssuer(issuer), op.WithAllowInsecure())
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/rotate", func(w http.ResponseWriter, _ *http.Request) {
		if err := st.rotate(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /admin/retire", func(http.ResponseWriter, *http.Request) { st.retire() })
	mux.HandleFunc("GET /admin/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"introspections": st.introspections.Load()})
	})
	mux.Handle("/", provider)
	fmt.Printf("op listening on %s\n", ln.Addr())
	_ = os.Stdout.Sync()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// client is a registered OAuth client: a service using client credentials
// (audience set) or a resource server allowed to introspect.
type client struct {
	id, secret string
	tokenType  op.AccessTokenType
	audience   []string
	scopes     []string
	introspect bool
}

// The fixed registrations the tests use.
var clients = []*client{
	{id: "orders-svc", secret: "orders-secret", tokenType: op.AccessTokenTypeJWT, audience: []string{"orders"}, scopes: []string{"orders:read", "orders:write"}},
	{id: "billing-svc", secret: "billing-secret", tokenType: op.AccessTokenTypeJWT, audience: []string{"billing"}, scopes: []string{"billing:read"}},
	{id: "opaque-svc", secret: "opaque-secret", tokenType: op.AccessTokenTypeBearer, audience: []string{"orders"}, scopes: []string{"orders:read"}},
	{id: "rampart", secret: "introspection-secret", introspect: true},
}

func (c *client) GetID() string                        { return c.id }
func (c *client) RedirectURIs() []string               { return nil }
func (c *client) PostLogoutRedirectURIs() []string     { return nil }
func (c *client) ApplicationType() op.ApplicationType  { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod          { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType   { return nil }
func (c *client) LoginURL(string) string               { return "" }
func (c *client) AccessTokenType() op.AccessTokenType  { return c.tokenType }
func (c *client) IDTokenLifetime() time.Duration       { return time.Hour }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(s string) bool         { return slices.Contains(c.scopes, s) }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) GrantTypes() []oidc.GrantType {
	if c.audience == nil {
		return nil
	}
	return []oidc.GrantType{oidc.GrantTypeClientCredentials}
}
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// tokenRequest is what a client-credentials grant asks for.
type tokenRequest struct {
	subject  string
	audience []string
	scopes   []string
}

func (r *tokenRequest) GetSubject() string    { return r.subject }
func (r *tokenRequest) GetAudience() []string { return r.audience }
func (r *tokenRequest) GetScopes() []string   { return r.scopes }

// clientID is the client the token is issued to: in this grant, the subject.
func (r *tokenRequest) clientID() string { return r.subject }

type token struct {
	id, clientID, subject string
	audience, scopes      []string
	issued, expires       time.Time
}

// signingKey is one key of the provider's JWKS; the newest signs.
type signingKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

// publicKey is a signingKey as the JWKS shows it.
type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.key.Public() }

type storage struct {
	issuer         string
	alg            jose.SignatureAlgorithm
	ttl            time.Duration
	introspections atomic.Int64

	mu     sync.Mutex
	keys   []*signingKey
	serial int
	tokens map[string]*token
}

func newStorage(issuer string, alg jose.SignatureAlgorithm, ttl time.Duration) (*storage, error) {
	if alg != jose.RS256 && alg != jose.ES256 {
		return nil, fmt.Errorf("-alg %s: want RS256 or ES256", alg)
	}
	s := &storage{issuer: issuer, alg: alg, ttl: ttl, tokens: map[string]*token{}}
	return s, s.rotate()
}

// rotate adds a new signing key; the previous ones stay published.
func (s *storage) rotate() error {
	var (
		key crypto.Signer
		err error
	)
	if s.alg == jose.ES256 {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serial++
	s.keys = append(s.keys, &signingKey{id: "op-key-" + strconv.Itoa(s.serial), alg: s.alg, key: key})
	return nil
}

// retire unpublishes every key but the one that signs.
func (s *storage) retire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = s.keys[len(s.keys)-1:]
}

func (s *storage) client(id string) (*client, error) {
	for _, c := range clients {
		if c.id == id {
			return c, nil
		}
	}
	return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
}

func (s *storage) authenticate(id, secret string) (*client, error) {
	c, err := s.client(id)
	if err != nil || c.secret != secret {
		return nil, oidc.ErrInvalidClient().WithDescription("wrong client id or secret")
	}
	return c, nil
}

// errNoUsers answers the flows that need a logged-in user.
var errNoUsers = errors.New("this provider has no users: only the client-credentials grant is offered")

// --- op.ClientCredentialsStorage ---

func (s *storage) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	c, err := s.authenticate(id, secret)
	if err != nil {
		return nil, err
	}
	if c.audience == nil {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("this client may not request tokens")
	}
	return c, nil
}

func (s *storage) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := s.client(id)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !c.IsScopeAllowed(sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not granted to %s", sc, id)
		}
	}
	return &tokenRequest{subject: c.id, audience: c.audience, scopes: scopes}, nil
}

// --- op.AuthStorage ---

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	now := time.Now()
	t := &token{
		id: randomID(), subject: req.GetSubject(), audience: req.GetAudience(), scopes: req.GetScopes(),
		issued: now, expires: now.Add(s.ttl),
	}
	if r, ok := req.(*tokenRequest); ok {
		t.clientID = r.clientID()
	}
	s.mu.Lock()
	s.tokens[t.id] = t
	s.mu.Unlock()
	return t.id, t.expires, nil
}

func (s *storage) RevokeToken(_ context.Context, tokenID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[tokenID]
	if !ok {
		return nil // RFC 7009 §2.2: an unknown token is not an error
	}
	if t.clientID != clientID {
		return oidc.ErrInvalidClient().WithDescription("the token was issued to another client")
	}
	delete(s.tokens, tokenID)
	return nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1], nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{s.alg}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]op.Key, len(s.keys))
	for i, k := range s.keys {
		out[i] = publicKey{k}
	}
	return out, nil
}

func (s *storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, errNoUsers
}
func (s *storage) AuthRequestByID(context.Context, string) (op.AuthRequest, error) {
	return nil, errNoUsers
}
func (s *storage) AuthRequestByCode(context.Context, string) (op.AuthRequest, error) {
	return nil, errNoUsers
}
func (s *storage) SaveAuthCode(context.Context, string, string) error { return errNoUsers }
func (s *storage) DeleteAuthRequest(context.Context, string) error    { return errNoUsers }
func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errNoUsers
}
func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errNoUsers
}
func (s *storage) TerminateSession(context.Context, string, string) error { return errNoUsers }
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// --- op.OPStorage ---

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	return s.client(id)
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	_, err := s.authenticate(id, secret)
	return err
}

// SetIntrospectionFromToken answers RFC 7662 for a resource server: the
// token's subject, client, scopes, audience and lifetime, if it is still
// live and the caller is allowed to introspect.
func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	s.introspections.Add(1)
	c, err := s.client(clientID)
	if err != nil || !c.introspect {
		return errors.New("client may not introspect")
	}
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("token is not active")
	}
	resp.Issuer = s.issuer
	resp.Subject = t.subject
	resp.ClientID = t.clientID
	resp.Scope = t.scopes
	resp.Audience = t.audience
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(t.expires)
	resp.IssuedAt = oidc.FromTime(t.issued)
	resp.JWTID = t.id
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return errNoUsers
}
func (s *storage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return errNoUsers
}

// GetPrivateClaimsFromScopes puts the granted scopes in a JWT access token
// as the space-separated scope claim (RFC 9068 §2.2.3); the library leaves
// that to the storage.
func (s *storage) GetPrivateClaimsFromScopes(_ context.Context, _, _ string, scopes []string) (map[string]any, error) {
	if len(scopes) == 0 {
		return nil, nil
	}
	return map[string]any{"scope": strings.Join(scopes, " ")}, nil
}
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client authentication is not offered")
}
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

func (s *storage) Health(context.Context) error { return nil }

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
