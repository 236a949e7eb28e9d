// Package authn is stage 9 of the request path: it runs a policy's
// authenticators ("any of") and turns the first that accepts into the
// request's identity. Each authenticator lives in its own sub-package and
// implements Authenticator.
package authn

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// ErrNoCredentials is returned by an authenticator when the request
// carries no credential of its kind (or one meant for another
// authenticator, such as a token from another issuer), so the next one
// gets its turn.
var ErrNoCredentials = errors.New("no credentials of this kind")

// Failure is a credential an authenticator looked at and did not accept.
type Failure struct {
	// Unavailable: the identity provider could not be asked, so the
	// credential was neither accepted nor refused (503, never 401).
	Unavailable bool
	// Reason is machine-readable, for events and metrics: expired,
	// bad_signature, unknown_key, revoked ...
	Reason string
	// Description is safe to show the client: it says which check
	// failed, never why a signature did not verify.
	Description string
	// Foreign: the credential looks meant for another authenticator (a
	// token of another issuer); another refusal is reported before it.
	Foreign bool
	// Consumer and KeyID identify whose credential it was, when known;
	// they go to the event and access log, never a secret.
	Consumer, KeyID string
	// Challenge, when set, is the WWW-Authenticate value to send instead
	// of the authenticator's own (a DPoP error names the DPoP scheme).
	Challenge string
}

func (f *Failure) Error() string { return f.Reason + ": " + f.Description }

// Invalid returns a Failure for a refused credential.
func Invalid(reason, description string) *Failure {
	return &Failure{Reason: reason, Description: description}
}

// Unavailable returns a Failure for an identity provider that could not
// be reached.
func Unavailable(reason, description string) *Failure {
	return &Failure{Unavailable: true, Reason: reason, Description: description}
}

// Authenticator checks one kind of credential.
type Authenticator interface {
	// Name is the configured authenticator name.
	Name() string
	// Challenge is this authenticator's WWW-Authenticate challenge for a
	// request without credentials, e.g. `Bearer realm="rampart"`.
	Challenge() string
	// Hint says in words what credential this authenticator wants, for a
	// problem's detail: "a bearer token in the Authorization header".
	Hint() string
	// Authenticate returns the identity, ErrNoCredentials, or a *Failure.
	// It may remove the credential from r once accepted, so that it does
	// not travel upstream.
	Authenticate(r *http.Request) (*reqctx.Identity, error)
}

// Consumers looks up consumer records; authenticators that name a
// consumer get its roles, scopes and attributes from it.
type Consumers interface {
	Consumer(id string) (Consumer, bool)
}

// Consumer is what the gateway knows about a consumer beyond a credential.
type Consumer struct {
	ID         string
	Roles      []string
	Scopes     []string
	Attributes map[string]string
	Disabled   bool
}

// Stage runs the authenticators in order.
type Stage struct {
	List      []Authenticator
	Consumers Consumers // may be nil
	// Count records an outcome for metrics: authenticator name and
	// accepted, invalid, unavailable or missing. May be nil.
	Count func(authenticator, result string)
}

// Name names the stage in traces and docs/architecture.md (stage 9).
func (s *Stage) Name() string { return "authenticate" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	challenges := make([]string, len(s.List))
	for i, a := range s.List {
		challenges[i] = a.Challenge()
	}
	challenge := strings.Join(challenges, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var refused, unavailable *Failure
		var refusedBy, unavailableBy Authenticator
		for _, a := range s.List {
			id, err := a.Authenticate(r)
			if err == nil {
				if f := s.admit(a, id); f != nil {
					refused, refusedBy = f, a
					break
				}
				s.count(a.Name(), "accepted")
				st := reqctx.From(r.Context())
				st.Identity = id
				st.Consumer = id.Consumer
				next.ServeHTTP(w, r)
				return
			}
			var f *Failure
			switch {
			case errors.Is(err, ErrNoCredentials):
				continue
			case errors.As(err, &f) && f.Unavailable:
				if unavailable == nil {
					unavailable, unavailableBy = f, a
				}
			case errors.As(err, &f):
				if refused == nil || (refused.Foreign && !f.Foreign) {
					refused, refusedBy = f, a
				}
			default:
				if unavailable == nil {
					unavailable, unavailableBy = Unavailable("error", "the credentials could not be checked"), a
				}
			}
		}
		st := reqctx.From(r.Context())
		switch {
		case unavailable != nil:
			// An IdP that cannot be asked is the gateway's problem, not the
			// client's: 503, even when another authenticator refused.
			s.count(unavailableBy.Name(), "unavailable")
			st.Consumer = unavailable.Consumer
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.IdentityUnavailable, Reason: "idp_unavailable", Stage: "authenticate",
				Rule: unavailableBy.Name() + ":" + unavailable.Reason, Detail: "The credentials could not be checked because " +
					unavailable.Description + ". Retry in a few seconds.", Header: map[string]string{"Retry-After": "5"}})
		case refused != nil:
			s.count(refusedBy.Name(), "invalid")
			st.Consumer = refused.Consumer
			rule := refusedBy.Name() + ":" + refused.Reason
			if refused.KeyID != "" {
				rule += ":" + refused.KeyID
			}
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.InvalidCredentials, Reason: "invalid_credentials", Stage: "authenticate",
				Rule: rule, Detail: "The credentials were refused: " + refused.Description + ".",
				Header: map[string]string{"WWW-Authenticate": invalidChallenge(refusedBy, refused)}})
		default:
			for _, a := range s.List {
				s.count(a.Name(), "missing")
			}
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.Unauthorized, Reason: "missing_credentials", Stage: "authenticate",
				Detail: "This endpoint needs credentials: " + describe(s.List) + ".", Header: map[string]string{"WWW-Authenticate": challenge}})
		}
	})
}

// admit applies the consumer record to an accepted identity: a disabled
// consumer is refused, roles, scopes and attributes are added.
func (s *Stage) admit(a Authenticator, id *reqctx.Identity) *Failure {
	id.Authenticator = a.Name()
	if s.Consumers == nil {
		return nil
	}
	c, ok := s.Consumers.Consumer(id.Consumer)
	if ok {
		if c.Disabled {
			return &Failure{Reason: "consumer_disabled", Description: "the consumer is disabled", Consumer: id.Consumer, KeyID: id.KeyID}
		}
		id.Roles = c.Roles
		id.Attributes = c.Attributes
		for _, sc := range c.Scopes {
			if !slices.Contains(id.Scopes, sc) {
				id.Scopes = append(id.Scopes, sc)
			}
		}
	}
	// just-in-time grants add roles for their while, to a consumer of
	// the directory or one known only to its identity provider
	if g, ok := s.Consumers.(GrantedRoles); ok {
		for _, r := range g.GrantedRoles(id.Consumer, time.Now()) {
			if !slices.Contains(id.Roles, r) {
				id.Roles = append(slices.Clip(id.Roles), r) // never into the consumer record's array
			}
		}
	}
	return nil
}

// GrantedRoles is a consumer directory with just-in-time grants: the
// roles a consumer holds at now beyond its own.
type GrantedRoles interface {
	GrantedRoles(consumer string, now time.Time) []string
}

func (s *Stage) count(name, result string) {
	if s.Count != nil {
		s.Count(name, result)
	}
}

// invalidChallenge adds RFC 6750's error attributes to a Bearer
// challenge; other schemes carry the description alone.
func invalidChallenge(a Authenticator, f *Failure) string {
	if f.Challenge != "" {
		return f.Challenge
	}
	c := a.Challenge()
	desc := strings.ReplaceAll(f.Description, `"`, `'`)
	if strings.HasPrefix(c, "Bearer") {
		return c + `, error="invalid_token", error_description="` + desc + `"`
	}
	return c + `, error_description="` + desc + `"`
}

func describe(list []Authenticator) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.Hint()
	}
	return strings.Join(slices.Compact(parts), ", or ")
}

// AccessToken returns the token of an `Authorization: Bearer` or
// `Authorization: DPoP` header (RFC 9449), and whether it was DPoP.
func AccessToken(r *http.Request) (token string, dpop bool) {
	var h string
	if v := r.Header["Authorization"]; len(v) > 0 { // the canonical key: Get would canonicalise it per request
		h = v[0]
	}
	switch {
	case len(h) > 7 && strings.EqualFold(h[:7], "bearer "):
		return strings.TrimSpace(h[7:]), false
	case len(h) > 5 && strings.EqualFold(h[:5], "dpop "):
		return strings.TrimSpace(h[5:]), true
	}
	return "", false
}
