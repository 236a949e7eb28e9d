package authn

import (
	"fmt"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
)

// MaxClockSkew bounds clock_skew: a token this far past its exp is
// accepted already.
const MaxClockSkew = 5 * time.Minute

// TokenLimits are the keys the token types (jwt, oidc,
// oauth2_introspection) share, inline in their settings.
type TokenLimits struct {
	ClockSkew     config.Duration `yaml:"clock_skew" json:"clock_skew,omitempty" doc:"Leeway for exp, nbf and iat. Default 30s, at most 5m."`
	ConsumerClaim string          `yaml:"consumer_claim" json:"consumer_claim,omitempty" doc:"The claim naming the consumer. Default sub."`
	MaxTokenBytes config.Size     `yaml:"max_token_bytes" json:"max_token_bytes,omitempty" doc:"Longer tokens are refused unread. Default 8KiB."`
}

// Defaults sets what the file left unset.
func (l *TokenLimits) Defaults() {
	l.ClockSkew.Default(config.DefaultClockSkew)
	if l.ConsumerClaim == "" {
		l.ConsumerClaim = "sub"
	}
	if l.MaxTokenBytes == 0 {
		l.MaxTokenBytes = config.DefaultTokenBytes
	}
}

// Validate checks the limits' ranges.
func (l *TokenLimits) Validate(at *config.Validation) {
	if l.ClockSkew.D() > MaxClockSkew {
		at.Errorf("clock_skew", "clock_skew %s is above 5m", l.ClockSkew.D())
	}
	if l.MaxTokenBytes != 0 && (l.MaxTokenBytes < 256 || l.MaxTokenBytes > 64<<10) {
		at.Errorf("max_token_bytes", "max_token_bytes %s must be between 256 and 64KiB", l.MaxTokenBytes)
	}
}

// TokenClockSkew is the leeway for token times (TokenSettings).
func (l *TokenLimits) TokenClockSkew() time.Duration { return l.ClockSkew.D() }

// WideClockSkew is the audit finding the token types share: tokens
// accepted long past their exp.
func WideClockSkew(base string, clockSkew config.Duration) []Weakness {
	if clockSkew.D() <= 2*time.Minute {
		return nil
	}
	return []Weakness{{Path: base + ".clock_skew", Severity: "low", ID: "wide-clock-skew",
		Detail: fmt.Sprintf("tokens are accepted %s past their exp", clockSkew.D())}}
}

// TokenSettings are the settings of a type whose credentials are tokens
// with times (exp, nbf, iat, auth_time), checked with a leeway.
type TokenSettings interface {
	TokenClockSkew() time.Duration
}

// ClockSkew is a's leeway for token times, 0 for a type without tokens.
func ClockSkew(a *config.Authenticator) time.Duration {
	if t, ok := a.Settings.(TokenSettings); ok {
		return t.TokenClockSkew()
	}
	return 0
}
