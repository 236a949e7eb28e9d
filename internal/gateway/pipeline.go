package gateway

import (
	"fmt"

	"github.com/rampart-gw/rampart/internal/authz"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/identity"
)

// routeStages returns a route's stages 4-15 of the request path
// (DESIGN.md §1), in order. Stages 1-3 run before routing (Snapshot.ServeHTTP)
// and stage 16, the proxy, is the final handler. A later capability adds
// its stage here: one package, one line.
func routeStages(cfg *config.Config, r *config.Route, auth *compiledIdentity, access map[string]*authz.Stage) ([]Stage, error) {
	pol := cfg.Policies[r.Policy] // nil for the built-in public policy
	var stages []Stage
	// 4 IP and geo allow/deny          (threats)
	// 5 CORS, preflight answered here   (threats)
	// 6 bans and bot checks             (traffic)
	// 7 pre-auth rate limit per IP      (traffic)
	// 8 body guards: size, then content type and structure (threats)
	stages = append(stages, &guard.BodyLimit{Max: bodyLimit(cfg, pol)})
	// 9 authenticate                    (identity)
	if pol != nil && len(pol.Authenticate) > 0 {
		stages = append(stages, auth.stage(pol.Authenticate))
	}
	// 10 authorize                      (access)
	if a, ok := access[r.Policy]; ok {
		stages = append(stages, a)
	}
	// 11 consumer limits, quotas        (traffic)
	// 12 schema validation              (threats)
	// 13 WAF                            (threats)
	// 14 cache lookup
	// 15 request transform, identity to upstream
	stages = append(stages, &identity.Stage{Signer: auth.signer, Issuer: cfg.Identity.Issuer, Audience: r.Upstream,
		TTL: cfg.Identity.AssertionTTL.D(), ForwardAuthorization: r.ForwardAuthorization})
	for _, s := range stages {
		if s == nil {
			return nil, fmt.Errorf("route %s: internal error: nil stage", r.Name)
		}
	}
	return stages, nil
}

func bodyLimit(cfg *config.Config, pol *config.Policy) int64 {
	limit := int64(cfg.Server.Limits.MaxBodyBytes)
	if pol != nil && pol.Validate != nil && pol.Validate.MaxBodyBytes > 0 {
		limit = min(limit, int64(pol.Validate.MaxBodyBytes))
	}
	return limit
}
