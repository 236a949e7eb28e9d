package jwt

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
)

// SignatureAlgorithms are the JWS algorithms a jwt or oidc authenticator
// may accept. none and the HMAC family are deliberately absent: a JWKS
// holds public keys, and accepting HS* with one is the RS/HS confusion.
var SignatureAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// OIDC are the keys of the oidc type: tokens from an issuer whose
// signing keys are found by OpenID Connect discovery.
type OIDC struct {
	Issuer            string   `yaml:"issuer" json:"issuer,omitempty" doc:"The exact iss every token must carry; oidc discovers its JWKS from it."`
	Audiences         []string `yaml:"audiences" json:"audiences,omitempty" doc:"A token's aud must contain one of these."`
	Algorithms        []string `yaml:"algorithms" json:"algorithms,omitempty" doc:"Accepted signature algorithms (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA). Default [RS256, ES256]. none and HMAC are never accepted."`
	authn.TokenLimits `yaml:",inline"`
	JWKSRefresh       config.Duration `yaml:"jwks_refresh" json:"jwks_refresh,omitempty" doc:"Refresh interval when the JWKS response sets no max-age. Default 5m."`
	JWKSStaleFor      config.Duration `yaml:"jwks_stale_for" json:"jwks_stale_for,omitempty" doc:"How long keys stay usable when the IdP cannot be reached; after that requests get 503. Default 1h."`
	CacheTTL          config.Duration `yaml:"cache_ttl" json:"cache_ttl,omitempty" doc:"Verified tokens are cached by a hash of the whole token for at most this long and never past their exp. Default 5m."`
	Timeout           config.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"Timeout of one call to the IdP. Default 5s."`
	DPoPRequired      bool            `yaml:"dpop_required" json:"dpop_required,omitempty" doc:"Accept only DPoP-bound tokens (cnf.jkt) with a valid DPoP proof (RFC 9449). DPoP-bound tokens are checked whatever this says; this refuses bearer ones."`
	RequireLowS       bool            `yaml:"require_low_s" json:"require_low_s,omitempty" doc:"Refuse ECDSA signatures whose s is in the upper half of the group order. Off by default: JWS allows both forms and most identity providers send both; only for issuers known to normalise."`
}

// JWT are the keys of the jwt type: OIDC's, with the signing keys
// published at jwks_uri instead of discovered.
type JWT struct {
	OIDC    `yaml:",inline"`
	JWKSURI string `yaml:"jwks_uri" json:"jwks_uri,omitempty" doc:"Where the signing keys are published (https, or http on loopback)."`
}

// Defaults sets what the file left unset.
func (s *OIDC) Defaults() {
	if len(s.Algorithms) == 0 {
		s.Algorithms = []string{"RS256", "ES256"}
	}
	s.JWKSRefresh.Default(5 * time.Minute)
	s.JWKSStaleFor.Default(time.Hour)
	s.CacheTTL.Default(5 * time.Minute)
	s.Timeout.Default(5 * time.Second)
	s.TokenLimits.Defaults()
}

// Validate checks an oidc authenticator's settings.
func (s *OIDC) Validate(at *config.Validation) {
	if s.Issuer == "" {
		at.Errorf("", "a %s authenticator needs issuer: the exact iss its tokens carry", at.Type)
	} else if at.Type == "oidc" {
		at.Endpoint("issuer", s.Issuer)
	}
	if len(s.Audiences) == 0 {
		at.Errorf("", "a %s authenticator needs audiences: without them a token minted for another service of the same issuer would be accepted", at.Type)
	}
	for i, aud := range s.Audiences {
		if aud == "" {
			at.Errorf(index("audiences", i), "empty audience")
		}
	}
	for i, alg := range s.Algorithms {
		if !slices.Contains(SignatureAlgorithms, alg) {
			hint := ""
			switch {
			case strings.EqualFold(alg, "none"):
				hint = ": unsigned tokens are never accepted"
			case strings.HasPrefix(strings.ToUpper(alg), "HS"):
				hint = ": HMAC would let anyone holding the public key forge tokens (RS/HS confusion)"
			}
			at.Errorf(index("algorithms", i), "algorithm %q is not accepted%s; use %s", alg, hint, strings.Join(SignatureAlgorithms, ", "))
		}
	}
	if s.JWKSRefresh != 0 && s.JWKSRefresh.D() < 10*time.Second {
		at.Errorf("jwks_refresh", "jwks_refresh %s is below 10s", s.JWKSRefresh.D())
	}
	s.TokenLimits.Validate(at)
}

// Validate checks a jwt authenticator's settings.
func (s *JWT) Validate(at *config.Validation) {
	s.OIDC.Validate(at)
	if s.JWKSURI == "" {
		at.Errorf("", "a jwt authenticator needs jwks_uri: where the IdP publishes its signing keys")
	} else {
		at.Endpoint("jwks_uri", s.JWKSURI)
	}
}

func index(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }
