package config

import (
	"fmt"
	"strings"
	"time"
)

// Bounds of the authorize section.
const (
	DefaultExternalTimeout = time.Second
	MaxExternalTimeout     = 10 * time.Second
	MaxExternalCacheTTL    = 10 * time.Minute
)

func (v *validator) roles() {
	for _, name := range sortedKeys(v.cfg.Roles) {
		base := "roles." + name
		if !nameRE.MatchString(name) {
			v.keyErrorf(base, "role name %q must be letters, digits, '.', '_' or '-'", name)
		}
		r := v.cfg.Roles[name]
		if r == nil || r.Allow == nil {
			continue // reported as a missing required key
		}
		if len(r.Allow) == 0 {
			v.errorf(base, "role %q allows nothing: give it allow: [{methods: [GET], paths: [\"/v1/orders/**\"]}]", name)
			continue
		}
		for i, a := range r.Allow {
			path := fmt.Sprintf("%s.allow[%d]", base, i)
			if a == nil {
				v.errorf(path, "an allow rule needs paths")
				continue
			}
			for j, m := range a.Methods {
				if !KnownMethod(m) {
					v.errorf(fmt.Sprintf("%s.methods[%d]", path, j), "unknown method %q (methods are upper case: GET, POST, ...)", m)
				}
			}
		}
	}
}

// policyAuthorize checks a policy's authorize section, and that a policy
// that authenticates says what it authorizes: least privilege by default.
func (v *validator) policyAuthorize(name, base string, p *Policy) {
	a := p.Authorize
	authenticates := len(p.Authenticate) > 0
	if a == nil {
		if authenticates {
			v.keyErrorf(base, "policy %q authenticates but authorizes nothing; least privilege needs an explicit choice: "+
				"add authorize: {any_authenticated: true} to admit every authenticated caller, or require roles, scopes or a when condition", name)
		}
		return
	}
	ab := base + ".authorize"
	checks := len(a.Roles) > 0 || len(a.Scopes) > 0 || a.When != "" || a.External != nil || len(a.RequireACR) > 0 || a.MaxAuthAge > 0
	switch {
	case a.AnyAuthenticated && !authenticates:
		v.errorf(ab+".any_authenticated", "any_authenticated needs an authenticate list; for anonymous access use policy: public")
	case a.AnyAuthenticated && checks:
		v.errorf(ab+".any_authenticated", "any_authenticated admits every authenticated caller and cannot be combined with other checks: remove it, the checks listed are the authorization")
	case !a.AnyAuthenticated && !checks:
		v.errorf(ab, "authorize lists no check: require roles, scopes, a when condition or an external service, or say any_authenticated: true")
	}
	needsIdentity := func(key string, set bool) {
		if set && !authenticates {
			v.errorf(ab+"."+key, "%s needs an authenticated caller: add authenticate to the policy", key)
		}
	}
	needsIdentity("roles", len(a.Roles) > 0)
	needsIdentity("scopes", len(a.Scopes) > 0)
	needsIdentity("require_acr", len(a.RequireACR) > 0)
	needsIdentity("max_auth_age", a.MaxAuthAge > 0)
	v.nameList(ab+".roles", "role", a.Roles, sortedKeys(v.cfg.Roles))
	for i, s := range a.Scopes {
		if !scopeToken(s) {
			v.errorf(fmt.Sprintf("%s.scopes[%d]", ab, i), "scope %q must be one non-empty word (RFC 6749 scope-token)", s)
		}
	}
	for i, s := range a.RequireACR {
		if strings.TrimSpace(s) == "" {
			v.errorf(fmt.Sprintf("%s.require_acr[%d]", ab, i), "an acr value cannot be empty")
		}
	}
	if a.MaxAuthAge < 0 {
		v.errorf(ab+".max_auth_age", "max_auth_age must be positive")
	}
	if e := a.External; e != nil {
		eb := ab + ".external"
		v.endpointURL(eb+".url", e.URL)
		if e.Timeout.D() > MaxExternalTimeout || e.Timeout < 0 {
			v.errorf(eb+".timeout", "timeout %s must be between 0 and %s", e.Timeout.D(), MaxExternalTimeout)
		}
		if e.CacheTTL.D() > MaxExternalCacheTTL || e.CacheTTL < 0 {
			v.errorf(eb+".cache_ttl", "cache_ttl %s must be between 0 and %s", e.CacheTTL.D(), MaxExternalCacheTTL)
		}
		for i, h := range e.Headers {
			if !ValidHeaderName(h) {
				v.errorf(fmt.Sprintf("%s.headers[%d]", eb, i), "%q is not a header name", h)
			}
		}
	}
}

// scopeToken reports whether s can be one scope: a non-empty word
// without spaces, quotes or backslashes (RFC 6749 scope-token).
func scopeToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\"\\")
}
