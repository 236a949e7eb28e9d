// Package authz is stage 10 of the request path: what an authenticated
// caller may do. A policy's authorize section compiles into a Policy
// whose checks run in a fixed order, cheapest and most actionable first:
// step-up (acr, auth_time: a 401 the client fixes by signing in again),
// scopes, roles, the CEL condition, then the external service. Every
// check listed must pass. The decision, allow or deny and which rule, goes
// to the access log (`authz`) and into security events.
package authz

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authz/condition"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/route"
)

// Policy is a compiled authorize section, shared by every request of the
// routes that use it.
type Policy struct {
	anyAuthenticated bool
	roles            []role // the consumer needs one of them
	scopes           []string
	when             *condition.Condition
	acr              []string
	maxAuthAge       time.Duration
	// skew is how far auth_time may lie in the future: the largest
	// clock_skew of the config's authenticators.
	skew     time.Duration
	external *External
	now      func() time.Time
}

type role struct {
	name    string
	allow   []allowRule
	allowed *Decision // shared: decisions are never changed once made
}

type allowRule struct {
	methods  route.Methods // 0: any
	patterns []*route.Pattern
}

func (a allowRule) allows(method, path string) bool {
	if a.methods != 0 {
		m, ok := route.ParseMethod(method)
		if !ok || a.methods&m == 0 && !(m == route.HEAD && a.methods&route.GET != 0) {
			return false
		}
	}
	for _, p := range a.patterns {
		if p.Match(path) {
			return true
		}
	}
	return false
}

// Compile builds the Policy of a validated authorize section; ext is the
// external service, or nil.
func Compile(cfg *config.Config, a *config.Authorize, ext *External) (*Policy, error) {
	p := &Policy{anyAuthenticated: a.AnyAuthenticated, scopes: a.Scopes, acr: a.RequireACR,
		maxAuthAge: a.MaxAuthAge.D(), external: ext, now: time.Now, skew: maxClockSkew(cfg)}
	for _, name := range a.Roles {
		def := cfg.Roles[name]
		if def == nil {
			return nil, fmt.Errorf("unknown role %q", name)
		}
		r := role{name: name, allowed: fixed(&Decision{Allow: true, Check: "roles", Rule: name})}
		for _, rule := range def.Allow {
			var ar allowRule
			for _, m := range rule.Methods {
				bit, ok := route.ParseMethod(m)
				if !ok {
					return nil, fmt.Errorf("role %s: unknown method %q", name, m)
				}
				ar.methods |= bit
			}
			for _, ps := range rule.Paths {
				pat, err := route.ParsePattern(ps)
				if err != nil {
					return nil, fmt.Errorf("role %s: %w", name, err)
				}
				ar.patterns = append(ar.patterns, pat)
			}
			r.allow = append(r.allow, ar)
		}
		p.roles = append(p.roles, r)
	}
	if a.When != "" {
		c, issues := condition.Compile(a.When)
		if len(issues) > 0 {
			return nil, fmt.Errorf("when: condition: %s", issues[0].Msg)
		}
		p.when = c
	}
	return p, nil
}

// Check checks what Compile compiles (config.Check): the path patterns
// of every role, and every policy's when condition.
func Check(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(cfg.Roles)) {
		r := cfg.Roles[name]
		if r == nil {
			continue
		}
		for i, a := range r.Allow {
			if a == nil {
				continue
			}
			for j, ps := range a.Paths {
				if _, err := route.ParsePattern(ps); err != nil {
					errs = append(errs, cfg.FieldError(fmt.Sprintf("roles.%s.allow[%d].paths[%d]", name, i, j), err))
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		if p := cfg.Policies[name]; p != nil && p.Authorize != nil && p.Authorize.When != "" {
			errs = append(errs, condition.Check(cfg, "policies."+name+".authorize.when", p.Authorize.When)...)
		}
	}
	return errs
}

// Decision is the outcome of a Policy for one request.
type Decision struct {
	Allow bool
	// Check is the check that decided: the last that passed on an allow,
	// the one that failed on a deny.
	Check string
	// Rule says which rule within it: the role that allowed, the scope
	// that is missing, ...
	Rule string
	// On a deny: the problem, what the client can do, and headers
	// (WWW-Authenticate for step-up, Retry-After).
	Type   problem.Type
	Detail string
	Header map[string]string
	// On an allow: headers for the upstream, from the external service.
	Upstream http.Header

	log string // String, when computed ahead
}

// fixed computes d's String once, for a decision many requests share.
func fixed(d *Decision) *Decision {
	d.log = d.String()
	return d
}

// Decisions that carry nothing request-specific, shared.
var (
	allowAny      = fixed(&Decision{Allow: true, Check: "any_authenticated"})
	allowStepUp   = fixed(&Decision{Allow: true, Check: "step_up"})
	allowScopes   = fixed(&Decision{Allow: true, Check: "scopes"})
	allowWhen     = fixed(&Decision{Allow: true, Check: "when"})
	allowExternal = fixed(&Decision{Allow: true, Check: "external"})
)

// String is the decision as the access log shows it.
func (d *Decision) String() string {
	if d.log != "" {
		return d.log
	}
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	if d.Rule == "" {
		return verdict + " " + d.Check
	}
	return verdict + " " + d.Check + ":" + d.Rule
}

func deny(check, rule string, t problem.Type, detail string) *Decision {
	return &Decision{Check: check, Rule: rule, Type: t, Detail: detail}
}

// Decide runs the policy's checks for r.
func (p *Policy) Decide(r *http.Request, st *reqctx.State) *Decision {
	d, _ := p.decide(r, st)
	return d
}

// decide is Decide, and on an allow the role that allowed (checked
// before the condition and the external service, which can name
// another check as the decider); "" when roles did not decide.
func (p *Policy) decide(r *http.Request, st *reqctx.State) (_ *Decision, role string) {
	id := st.Identity
	if p.anyAuthenticated {
		if id == nil {
			return deny("any_authenticated", "", problem.Forbidden, "This endpoint is for authenticated callers only."), ""
		}
		return allowAny, ""
	}
	// allowed is the last check passed: the one an allow names.
	var allowed *Decision
	if len(p.acr) > 0 || p.maxAuthAge > 0 {
		if d := p.stepUp(id); d != nil {
			return d, ""
		}
		allowed = allowStepUp
	}
	if len(p.scopes) > 0 {
		var missing []string
		for _, s := range p.scopes {
			if id == nil || !slices.Contains(id.Scopes, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			return deny("scopes", strings.Join(missing, " "), problem.Forbidden,
				"The credentials lack the scope "+quoteList(missing)+" that this endpoint requires. Request a token or key that grants it."), ""
		}
		allowed = allowScopes
	}
	if len(p.roles) > 0 {
		d := p.role(r, st)
		if !d.Allow {
			return d, ""
		}
		allowed, role = d, d.Rule
	}
	if p.when != nil {
		ok, err := p.when.Eval(p.input(r, st))
		switch {
		case err != nil:
			return deny("when", "error", problem.Forbidden,
				"The request does not meet a condition of this endpoint's access policy: a value the condition needs is missing."), ""
		case !ok:
			return deny("when", "false", problem.Forbidden,
				"The request does not meet a condition of this endpoint's access policy (for example, the resource belongs to another account)."), ""
		}
		allowed = allowWhen
	}
	if p.external != nil {
		return p.external.Decide(r, st), role
	}
	if allowed == nil { // a policy with no check; validation refuses one
		return deny("none", "", problem.Forbidden, "This endpoint's access policy allows nothing."), ""
	}
	return allowed, role
}

// role: the consumer holds one of the required roles, and that role
// allows the method and path.
func (p *Policy) role(r *http.Request, st *reqctx.State) *Decision {
	var held bool
	if id := st.Identity; id != nil {
		for _, rl := range p.roles {
			if !slices.Contains(id.Roles, rl.name) {
				continue
			}
			held = true
			for _, a := range rl.allow {
				if a.allows(r.Method, r.URL.Path) {
					return rl.allowed
				}
			}
		}
	}
	if !held {
		names := make([]string, len(p.roles))
		for i, rl := range p.roles {
			names[i] = rl.name
		}
		return deny("roles", "none_held", problem.Forbidden,
			"This endpoint requires one of the roles "+quoteList(names)+", which the consumer does not hold. Ask the API operator for the role.")
	}
	return deny("roles", "not_allowed", problem.Forbidden,
		"The consumer's roles do not allow "+r.Method+" on this path.")
}

// maxClockSkew is the largest clock_skew of cfg's authenticators, or the
// default where none sets one.
func maxClockSkew(cfg *config.Config) time.Duration {
	var skew time.Duration
	for _, a := range cfg.Authenticators {
		if a != nil {
			skew = max(skew, authn.ClockSkew(a))
		}
	}
	if skew == 0 {
		skew = config.DefaultClockSkew
	}
	return skew
}

// stepUp checks acr and auth_time (RFC 9470).
func (p *Policy) stepUp(id *reqctx.Identity) *Decision {
	var claims map[string]any
	if id != nil {
		claims = id.Claims
	}
	var attrs []string
	if len(p.acr) > 0 {
		acr, _ := claims["acr"].(string)
		if !slices.Contains(p.acr, acr) {
			attrs = append(attrs, `acr_values="`+strings.Join(p.acr, " ")+`"`)
		}
	}
	future := false
	if p.maxAuthAge > 0 {
		at, ok := claims["auth_time"].(float64)
		age := p.now().Sub(time.Unix(int64(at), 0))
		// A sign-in later than now (beyond the clocks' allowed skew) is
		// no sign-in: a token that claims one proves no recent one.
		future = ok && age < -p.skew
		if !ok || future || age > p.maxAuthAge {
			attrs = append(attrs, "max_age="+strconv.FormatInt(int64(p.maxAuthAge/time.Second), 10))
		}
	}
	if len(attrs) == 0 {
		return nil
	}
	desc := "A stronger or more recent authentication is required"
	if future {
		desc = "The token's auth_time is in the future, so it proves no recent authentication"
	}
	d := deny("step_up", strings.Join(attrs, ","), problem.InsufficientAuthentication,
		desc+": sign in again at the identity provider with "+strings.Join(attrs, " and ")+", then retry with the new token.")
	d.Header = map[string]string{"WWW-Authenticate": `Bearer realm="rampart", error="insufficient_user_authentication", error_description="` +
		desc + `", ` + strings.Join(attrs, ", ")}
	return d
}

func (p *Policy) input(r *http.Request, st *reqctx.State) *condition.Input {
	in := &condition.Input{Request: r, Path: r.URL.Path, Match: &st.Match, ClientIP: st.AccessRecord.ClientIP, Now: p.now(), JA4: st.JA4}
	if id := st.Identity; id != nil {
		in.ConsumerID, in.Authenticator, in.Roles, in.Scopes = id.Consumer, id.Authenticator, id.Roles, id.Scopes
		in.Attributes, in.Claims = id.Attributes, id.Claims
	}
	return in
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = "`" + v + "`"
	}
	return strings.Join(q, ", ")
}

// Stage is stage 10 for one route.
type Stage struct {
	Policy *Policy
	// Count, if not nil, counts each decision: allow or deny, and the
	// check that decided.
	Count func(decision, check string)
	// RoleUsed, if not nil, hears which of the consumer's roles allowed
	// each allowed request (access reviews find the roles never used).
	RoleUsed func(consumer, role string)
}

// Name names the stage in traces and docs/architecture.md (stage 10).
func (s *Stage) Name() string { return "authorize" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		d, role := s.Policy.decide(r, st)
		st.Authz = d.String()
		if s.Count != nil {
			verdict := "deny"
			if d.Allow {
				verdict = "allow"
			}
			s.Count(verdict, d.Check)
		}
		if !d.Allow {
			reqctx.Refuse(w, r, reqctx.Refusal{Type: d.Type, Reason: "authz_" + d.Check, Stage: "authorize",
				Rule: d.Check + ":" + d.Rule, Detail: d.Detail, Header: d.Header})
			return
		}
		for k, v := range d.Upstream {
			st.SetUpstream(k, v)
		}
		if s.RoleUsed != nil && role != "" {
			s.RoleUsed(st.Identity.Consumer, role)
		}
		next.ServeHTTP(w, r)
	})
}
