package jwt

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authn/jwks"
	"github.com/rampart-gw/rampart/internal/config"
)

// Kind is the jwt and oidc authenticator types: tokens signed by keys
// from a JWKS, found at jwks_uri (jwt) or by OIDC discovery (oidc).
func Kind() *authn.Kind {
	return &authn.Kind{
		Types: map[string]func() config.Settings{
			"jwt":  func() config.Settings { return &JWT{} },
			"oidc": func() config.Settings { return &OIDC{} },
		},
		Doc:   "authn-jwt.md",
		Build: build,
		Describe: func(name string, a *config.Authenticator) string {
			s, _ := settings(a)
			return fmt.Sprintf("%s (%s from %s for %s, %s)", name, a.Type, s.Issuer, strings.Join(s.Audiences, " or "), strings.Join(s.Algorithms, "/"))
		},
		Credential: func(*config.Authenticator) (string, string) { return "bearer", "" },
		Weaknesses: func(base string, au *config.Authenticator) []authn.Weakness {
			a, _ := settings(au)
			out := authn.WideClockSkew(base, a.ClockSkew)
			if a.CacheTTL.D() > 15*time.Minute {
				out = append(out, authn.Weakness{Path: base + ".cache_ttl", Severity: "low", ID: "long-token-cache",
					Detail: fmt.Sprintf("verified tokens are reused for %s without checking the JWKS for retired keys beyond its refresh; keep it at 15m or less", a.CacheTTL.D())})
			}
			if a.JWKSStaleFor.D() > 24*time.Hour {
				out = append(out, authn.Weakness{Path: base + ".jwks_stale_for", Severity: "low", ID: "long-stale-keys",
					Detail: fmt.Sprintf("signing keys stay usable for %s while the IdP is unreachable, including keys it may have revoked meanwhile", a.JWKSStaleFor.D())})
			}
			return out
		},
	}
}

// build makes the authenticator. Its key set is shared with the previous
// snapshot while the settings it is fetched with are unchanged, so a
// reload does not refetch keys.
func build(env *authn.BuildEnv, name string, au *config.Authenticator) (authn.Authenticator, error) {
	a, uri := settings(au)
	key := struct {
		Type, Issuer, URI       string
		Refresh, Stale, Timeout config.Duration
	}{au.Type, a.Issuer, uri, a.JWKSRefresh, a.JWKSStaleFor, a.Timeout}
	set, err := authn.Acquire(env, name, key, func() (*jwks.Set, error) {
		set := jwks.New(jwks.Options{Name: name, JWKSURI: uri, Issuer: a.Issuer, Discover: au.Type == "oidc",
			Refresh: a.JWKSRefresh.D(), StaleFor: a.JWKSStaleFor.D(), Timeout: a.Timeout.D(), Log: env.Log,
			Client: &http.Client{Timeout: a.Timeout.D()},
			Count:  func(result string) { env.CountFetch(name, result) }})
		set.Start()
		return set, nil
	}, (*jwks.Set).Close)
	if err != nil {
		return nil, err
	}
	return New(Options{Name: name, Method: au.Type, Issuer: a.Issuer, Audiences: a.Audiences,
		Algorithms: a.Algorithms, ClockSkew: a.ClockSkew.D(), ConsumerClaim: a.ConsumerClaim,
		MaxTokenBytes: int(a.MaxTokenBytes), CacheTTL: a.CacheTTL.D(), Keys: set, Proofs: env.Proofs, DPoPRequired: a.DPoPRequired,
		RequireLowS: a.RequireLowS}), nil
}

// settings are an authenticator's oidc settings, and for jwt where its
// keys are published.
func settings(a *config.Authenticator) (s *OIDC, jwksURI string) {
	if j, ok := a.Settings.(*JWT); ok {
		return &j.OIDC, j.JWKSURI
	}
	return a.Settings.(*OIDC), ""
}
