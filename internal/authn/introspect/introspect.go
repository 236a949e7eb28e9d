// Package introspect is the oauth2_introspection authenticator: an
// opaque bearer token is sent to the authorization server's RFC 7662
// endpoint, with the gateway's own client credentials, and accepted when
// the answer says it is active and every configured check passes.
//
// The answer is cached by a hash of the token: an active one until the
// earlier of its exp and cache_ttl, an inactive one for
// negative_cache_ttl. Concurrent requests with the same uncached token
// share one call. Calls have a timeout, at most maxInFlight run at once,
// and a circuit breaker stops calling an endpoint that keeps failing;
// while it cannot be asked, requests whose token is not cached get a 503,
// never a 401 and never an accepted token.
package introspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authn/dpop"
	"github.com/rampart-gw/rampart/internal/authn/tokencache"
	"github.com/rampart-gw/rampart/internal/breaker"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Options configures an Authenticator.
type Options struct {
	Name         string
	Endpoint     string
	ClientID     string
	ClientSecret string
	// ClientAuth is how the gateway authenticates to the endpoint:
	// "basic" (client_secret_basic, the default) or "post"
	// (client_secret_post).
	ClientAuth string
	// Issuer and Audiences, when set, must match the answer's iss and aud.
	Issuer        string
	Audiences     []string
	ClockSkew     time.Duration
	ConsumerClaim string
	MaxTokenBytes int
	CacheTTL      time.Duration // cap on caching an active answer
	NegativeTTL   time.Duration // how long an inactive answer is kept
	CacheSize     int           // default 10,000 tokens
	Timeout       time.Duration
	Client        *http.Client
	// Proofs checks DPoP proofs of DPoP-bound tokens; nil refuses them.
	Proofs       authn.ProofChecker
	DPoPRequired bool // refuse tokens that are not DPoP-bound
	// Count records each call's outcome (ok, inactive, error,
	// breaker_open, saturated) for metrics. May be nil.
	Count func(result string)
	Log   *slog.Logger
	Now   func() time.Time // default time.Now
}

// maxInFlight bounds concurrent calls to the endpoint: a flood of
// distinct random tokens must not become a flood on the IdP.
const maxInFlight = 128

// maxAnswer bounds the size of an introspection answer.
const maxAnswer = 64 << 10

// Authenticator checks bearer tokens by introspection.
type Authenticator struct {
	o       Options
	cache   *tokencache.Cache[*answer]
	breaker *breaker.Breaker
	slots   chan struct{}
	// flight shares one call among concurrent requests for a token,
	// keyed by the token's hash.
	flight singleflight.Group
}

// answer is what was learnt about a token: an identity, or a refusal.
type answer struct {
	id      reqctx.Identity
	cnf     authn.Confirmation
	refused *authn.Failure
}

// New returns an Authenticator; Options must already be validated.
func New(o Options) *Authenticator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheSize == 0 {
		o.CacheSize = 10000
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{
		o:     o,
		cache: tokencache.New[*answer](o.CacheSize),
		// Half of at least 5 calls in 10s failing opens it for 10s; one
		// probe then decides.
		breaker: breaker.New(config.CircuitBreaker{FailureRatio: 0.5, MinRequests: 5,
			Window: config.Duration(10 * time.Second), OpenFor: config.Duration(10 * time.Second), HalfOpenRequests: 1}),
		slots: make(chan struct{}, maxInFlight),
	}
}

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.o.Name }

// Challenge implements authn.Authenticator.
func (a *Authenticator) Challenge() string { return a.tokens().Challenge() }

// Hint implements authn.Authenticator.
func (a *Authenticator) Hint() string { return a.tokens().Hint() }

func (a *Authenticator) tokens() dpop.Tokens {
	return dpop.Tokens{MaxBytes: a.o.MaxTokenBytes, Required: a.o.DPoPRequired}
}

// Authenticate implements authn.Authenticator.
func (a *Authenticator) Authenticate(r *http.Request) (*reqctx.Identity, error) {
	tok, dpopScheme, err := a.tokens().Read(r)
	if err != nil {
		return nil, err
	}
	if !b64token(tok) {
		return nil, authn.Invalid("malformed", "the token has characters a bearer token cannot have (RFC 6750 b64token)")
	}
	sum := tokencache.Sum(tok)
	ans, ok := a.cache.Get(sum, a.o.Now())
	if !ok {
		var err error
		if ans, err = a.lookup(r.Context(), sum, tok); err != nil {
			return nil, err
		}
	}
	if ans.refused != nil {
		return nil, ans.refused
	}
	// exp is checked on every use: a cached answer never outlives it.
	if !ans.id.ExpiresAt.IsZero() && a.o.Now().After(ans.id.ExpiresAt.Add(a.o.ClockSkew)) {
		return nil, authn.Invalid("expired", "the token has expired")
	}
	if err := ans.cnf.Check(r, authn.Presented{Token: tok, DPoP: dpopScheme, Proofs: a.o.Proofs, DPoPRequired: a.o.DPoPRequired}); err != nil {
		return nil, err
	}
	id := ans.id
	id.Scopes = slices.Clip(ans.id.Scopes) // an append copies, leaving the cache as it is
	return &id, nil
}

// lookup asks the endpoint, sharing one call among concurrent requests
// for the same token. The call is not tied to the first request's
// context: a client that goes away does not spoil the answer for the
// others, and the timeout still bounds it.
func (a *Authenticator) lookup(ctx context.Context, sum [32]byte, tok string) (*answer, error) {
	detached := context.WithoutCancel(ctx)
	ch := a.flight.DoChan(string(sum[:]), func() (any, error) {
		ans, err := a.introspect(detached, tok)
		if err == nil {
			a.cache.Put(sum, ans, a.cacheUntil(ans))
		}
		return ans, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*answer), nil
	case <-ctx.Done():
		return nil, authn.Unavailable("introspection_cancelled", "the request ended before the token introspection answered")
	}
}

func (a *Authenticator) cacheUntil(ans *answer) time.Time {
	now := a.o.Now()
	if ans.refused != nil {
		return now.Add(a.o.NegativeTTL)
	}
	until := now.Add(a.o.CacheTTL)
	if exp := ans.id.ExpiresAt; !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	return until
}

var errSaturated = errors.New("too many introspection calls in flight")

// introspect makes one call. A *Failure with Unavailable set means the
// endpoint could not answer; an answer with refused set is a definite no.
func (a *Authenticator) introspect(ctx context.Context, tok string) (*answer, error) {
	now := a.o.Now()
	if !a.breaker.Allow(now) {
		a.count("breaker_open")
		return nil, authn.Unavailable("introspection_unavailable", "the token introspection endpoint keeps failing and is rested for a few seconds")
	}
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	default:
		a.breaker.Record(now, true) // not the endpoint's fault
		a.count("saturated")
		a.o.Log.Warn("introspection: too many calls in flight", "authenticator", a.o.Name, "error", errSaturated)
		return nil, authn.Unavailable("introspection_saturated", "too many tokens are being checked at once")
	}
	ctx, cancel := context.WithTimeout(ctx, a.o.Timeout)
	defer cancel()
	body, err := a.post(ctx, tok)
	a.breaker.Record(a.o.Now(), err == nil)
	if err != nil {
		a.count("error")
		a.o.Log.Warn("introspection failed", "authenticator", a.o.Name, "endpoint", a.o.Endpoint, "error", err)
		return nil, authn.Unavailable("introspection_unavailable", "the token introspection endpoint did not answer")
	}
	ans, err := a.check(body, now)
	if err != nil {
		a.count("error")
		a.o.Log.Warn("introspection answer unusable", "authenticator", a.o.Name, "endpoint", a.o.Endpoint, "error", err)
		return nil, authn.Unavailable("introspection_unavailable", "the token introspection endpoint gave an answer that is not RFC 7662 JSON")
	}
	if ans.refused != nil && ans.refused.Reason == "inactive" {
		a.count("inactive")
	} else {
		a.count("ok")
	}
	return ans, nil
}

func (a *Authenticator) post(ctx context.Context, tok string) ([]byte, error) {
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	if a.o.ClientAuth == "post" {
		form.Set("client_id", a.o.ClientID)
		form.Set("client_secret", a.o.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.o.Endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if a.o.ClientAuth != "post" {
		// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(a.o.ClientID), url.QueryEscape(a.o.ClientSecret))
	}
	resp, err := a.o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("status %d: the endpoint refused the gateway's client credentials (client_id %q)", resp.StatusCode, a.o.ClientID)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	case len(b) > maxAnswer:
		return nil, fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	return b, nil
}

// check turns an answer into an identity or a refusal; an error means
// the answer is not RFC 7662. Members are read by their exact names.
func (a *Authenticator) check(body []byte, now time.Time) (*answer, error) {
	res, err := authn.ParseObject(body)
	if err != nil {
		return nil, fmt.Errorf("answer: %w", err)
	}
	active, err := res.Bool("active")
	if err != nil || active == nil {
		return nil, errors.New(`answer has no boolean "active"`)
	}
	refuse := func(reason, desc string) (*answer, error) {
		return &answer{refused: authn.Invalid(reason, desc)}, nil
	}
	if !*active {
		return refuse("inactive", "the token is not active (revoked, expired or unknown to the issuer)")
	}
	tokenType, e1 := res.String("token_type")
	iss, e2 := res.String("iss")
	scope, e3 := res.String("scope")
	consumer, e4 := res.String(a.o.ConsumerClaim)
	exp, _, e5 := res.Date("exp")
	nbf, hasNbf, e6 := res.Date("nbf")
	cnf, e7 := res.Confirmation()
	if err := errors.Join(e1, e2, e3, e4, e5, e6, e7); err != nil {
		return nil, err
	}
	switch {
	case strings.EqualFold(tokenType, "refresh_token"):
		return refuse("bad_type", "a refresh token is not an access token")
	case a.o.Issuer != "" && iss != a.o.Issuer:
		return refuse("wrong_issuer", "the token was not issued by the expected issuer")
	case len(a.o.Audiences) > 0 && !authn.AudienceOK(a.o.Audiences, res["aud"]):
		return refuse("wrong_audience", "the token is not meant for this API (aud)")
	case !exp.IsZero() && now.After(exp.Add(a.o.ClockSkew)):
		return refuse("expired", "the token has expired")
	case hasNbf && now.Add(a.o.ClockSkew).Before(nbf):
		return refuse("not_yet_valid", "the token is not valid yet (nbf)")
	case consumer == "":
		return refuse("no_consumer", "the token's introspection names no "+a.o.ConsumerClaim)
	}
	scopes := strings.Fields(scope)
	slices.Sort(scopes)
	return &answer{id: reqctx.Identity{Consumer: consumer, Method: "oauth2_introspection", Scopes: slices.Compact(scopes),
		Claims: res.Any(), ExpiresAt: exp}, cnf: cnf}, nil
}

func (a *Authenticator) count(result string) {
	if a.o.Count != nil {
		a.o.Count(result)
	}
}

// b64token reports whether s has RFC 6750's token68 syntax:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
