package introspect

import (
	"crypto/sha256"
	"fmt"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
)

// Kind is the oauth2_introspection authenticator type: opaque tokens
// checked at the issuer's RFC 7662 endpoint.
func Kind() *authn.Kind {
	return &authn.Kind{
		Types: map[string]func() config.Settings{
			"oauth2_introspection": func() config.Settings { return &Settings{} },
		},
		Doc:   "authn-introspection.md",
		Build: build,
		Describe: func(name string, a *config.Authenticator) string {
			return fmt.Sprintf("%s (introspection at %s)", name, a.Settings.(*Settings).Endpoint)
		},
		Credential: func(*config.Authenticator) (string, string) { return "bearer", "" },
		Weaknesses: func(base string, au *config.Authenticator) []authn.Weakness {
			a := au.Settings.(*Settings)
			out := authn.WideClockSkew(base, a.ClockSkew)
			if len(a.Audiences) == 0 {
				out = append(out, authn.Weakness{Path: base, Severity: "medium", ID: "introspection-without-audience",
					Detail: "the introspection answer's aud is not checked: a token the server issued for another API is accepted here. Set audiences"})
			}
			return out
		},
	}
}

// build makes the authenticator, shared with the previous snapshot (its
// answer cache and breaker with it) while its settings and client
// secret are unchanged: the secret's hash joins the key, so a changed
// secret file takes effect on reload.
func build(env *authn.BuildEnv, name string, au *config.Authenticator) (authn.Authenticator, error) {
	a := au.Settings.(*Settings)
	secret := a.ClientSecret.Value()
	sum := sha256.Sum256([]byte(secret))
	key := struct {
		A      *Settings
		Secret []byte
	}{a, sum[:]}
	return authn.Acquire(env, name, key, func() (*Authenticator, error) {
		return New(Options{Name: name, Endpoint: a.Endpoint, ClientID: a.ClientID, ClientSecret: secret,
			ClientAuth: a.ClientAuth, Issuer: a.Issuer, Audiences: a.Audiences, ClockSkew: a.ClockSkew.D(),
			ConsumerClaim: a.ConsumerClaim, MaxTokenBytes: int(a.MaxTokenBytes), CacheTTL: a.CacheTTL.D(),
			NegativeTTL: a.NegativeCacheTTL.D(), Timeout: a.Timeout.D(), Log: env.Log, Proofs: env.Proofs, DPoPRequired: a.DPoPRequired,
			Count: func(result string) { env.CountFetch(name, result) }}), nil
	}, func(*Authenticator) {})
}
