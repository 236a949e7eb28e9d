package introspect

import (
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
)

// Settings are the keys of the oauth2_introspection type.
type Settings struct {
	Endpoint          string         `yaml:"endpoint" json:"endpoint,omitempty" doc:"The RFC 7662 endpoint."`
	ClientID          string         `yaml:"client_id" json:"client_id,omitempty" doc:"The gateway's client id at the endpoint."`
	ClientSecret      *config.Secret `yaml:"client_secret" json:"client_secret,omitempty" doc:"As env:NAME or file:PATH."`
	ClientAuth        string         `yaml:"client_auth" json:"client_auth,omitempty" enum:"basic|post" doc:"How the gateway authenticates to the endpoint: basic (client_secret_basic) or post (client_secret_post). Default basic."`
	Issuer            string         `yaml:"issuer" json:"issuer,omitempty" doc:"When set, the answer's iss must equal it."`
	Audiences         []string       `yaml:"audiences" json:"audiences,omitempty" doc:"When set, the answer's aud must contain one (recommended)."`
	authn.TokenLimits `yaml:",inline"`
	CacheTTL          config.Duration `yaml:"cache_ttl" json:"cache_ttl,omitempty" doc:"Cap on caching an active result. Default 60s, at most 1h."`
	NegativeCacheTTL  config.Duration `yaml:"negative_cache_ttl" json:"negative_cache_ttl,omitempty" doc:"How long an inactive result is remembered. Default 10s, at most 5m."`
	Timeout           config.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"Timeout of one call to the endpoint. Default 5s."`
	DPoPRequired      bool            `yaml:"dpop_required" json:"dpop_required,omitempty" doc:"Accept only DPoP-bound tokens (cnf.jkt) with a valid DPoP proof (RFC 9449). DPoP-bound tokens are checked whatever this says; this refuses bearer ones."`
}

// Defaults sets what the file left unset.
func (s *Settings) Defaults() {
	s.CacheTTL.Default(60 * time.Second)
	s.NegativeCacheTTL.Default(10 * time.Second)
	if s.ClientAuth == "" {
		s.ClientAuth = "basic"
	}
	s.Timeout.Default(5 * time.Second)
	s.TokenLimits.Defaults()
}

// Validate checks the settings.
func (s *Settings) Validate(at *config.Validation) {
	if s.Endpoint == "" {
		at.Errorf("", "an oauth2_introspection authenticator needs endpoint")
	} else {
		at.Endpoint("endpoint", s.Endpoint)
	}
	if s.ClientID == "" || s.ClientSecret == nil {
		at.Errorf("", "an oauth2_introspection authenticator needs client_id and client_secret (env:NAME or file:PATH) to authenticate to the endpoint")
	}
	if s.NegativeCacheTTL.D() > 5*time.Minute {
		at.Errorf("negative_cache_ttl", "negative_cache_ttl %s is above 5m: a token the issuer has just activated would stay refused that long", s.NegativeCacheTTL.D())
	}
	if s.CacheTTL.D() > time.Hour {
		at.Errorf("cache_ttl", "cache_ttl %s is above 1h: a revoked token would keep working that long", s.CacheTTL.D())
	}
	s.TokenLimits.Validate(at)
}
