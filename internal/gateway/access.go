package gateway

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/rampart-gw/rampart/internal/authz"
	"github.com/rampart-gw/rampart/internal/config"
)

// compileAccess builds each policy's authorize stage (after
// compileIdentity, whose store directory records the roles used). External services
// keep their decision cache and breaker across reloads that leave them
// unchanged.
func (g *Gateway) compileAccess(cfg *config.Config, s *Snapshot) (map[string]*authz.Stage, error) {
	out := map[string]*authz.Stage{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		p := cfg.Policies[name]
		if p == nil || p.Authorize == nil {
			continue
		}
		a := p.Authorize
		var ext *authz.External
		if e := a.External; e != nil {
			k := keyOf(name, e, cfg.BaseDir)
			var err error
			ext, err = g.res.externals.acquire(k, func() (*authz.External, error) {
				return authz.NewExternal(authz.ExternalOptions{Name: name, URL: e.URL, Timeout: e.Timeout.D(),
					Headers: slices.Clone(e.Headers), CacheTTL: e.CacheTTL.D(), FailOpen: e.FailOpen, Log: g.log}), nil
			})
			if err != nil {
				return nil, err
			}
			s.releases = append(s.releases, func() { g.res.externals.release(k) })
		}
		pol, err := authz.Compile(cfg, a, ext)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", name, err)
		}
		st := &authz.Stage{Policy: pol, Count: g.metrics.Authz(name)}
		if dir := s.directory; dir != nil && len(a.Roles) > 0 {
			// which role allowed, for access reviews' "never exercised"
			st.RoleUsed = func(consumer, role string) { dir.MarkRoleUsed(consumer, role, time.Now()) }
		}
		out[name] = st
	}
	return out, nil
}
