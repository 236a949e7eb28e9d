package route

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
)

// Rules compiles the match rule of every route of cfg (rules[i] is
// routes[i]'s) and checks them as the router will hold them: hosts and
// path patterns parse, no two routes claim the same requests, and a
// rewrite's host and path template fit the route's patterns. Each
// problem is an error at its setting; a route with one gets a zero Rule.
func Rules(cfg *config.Config) ([]Rule, config.Errors) {
	var errs config.Errors
	fail := func(path string, format string, args ...any) {
		errs = append(errs, cfg.FieldError(path, fmt.Errorf(format, args...)))
	}
	rules := make([]Rule, len(cfg.Routes))
	b := NewBuilder()
	for i, r := range cfg.Routes {
		if r == nil {
			continue
		}
		base := fmt.Sprintf("routes[%d]", i)
		rule, ok := Rule{ID: i, Headers: r.Match.Headers, AcceptParams: r.Match.AcceptParams}, len(r.Match.Paths) > 0
		for j, h := range r.Match.Hosts {
			nh, err := NormalizeHost(h)
			if err != nil {
				fail(fmt.Sprintf("%s.match.hosts[%d]", base, j), "%v", err)
				ok = false
			}
			rule.Hosts = append(rule.Hosts, nh)
		}
		for j, p := range r.Match.Paths {
			pat, err := ParsePattern(p)
			if err != nil {
				fail(fmt.Sprintf("%s.match.paths[%d]", base, j), "%v", err)
				ok = false
				continue
			}
			rule.Patterns = append(rule.Patterns, pat)
		}
		for _, m := range r.Match.Methods {
			bit, _ := ParseMethod(m) // an unknown method is refused by validation
			rule.Methods |= bit
		}
		if !ok {
			continue
		}
		errs = append(errs, rewriteErrors(cfg, base, r, rule.Patterns)...)
		rules[i] = rule
		for _, cf := range b.Add(rule) {
			fail(fmt.Sprintf("%s.match.paths[%d]", base, cf.PatternIndex), "route %q %v (route %q at %s)",
				r.Name, cf, cfg.Routes[cf.Other].Name, cfg.Pos(fmt.Sprintf("routes[%d]", cf.Other)))
		}
	}
	return rules, errs
}

// Check is Rules for validation (config.Check).
func Check(cfg *config.Config) config.Errors {
	_, errs := Rules(cfg)
	return errs
}

// rewriteErrors checks what of a rewrite only the router can: its host
// is a host name, and its path template uses only parameters every path
// pattern of the route captures.
func rewriteErrors(cfg *config.Config, base string, r *config.Route, pats []*Pattern) config.Errors {
	rw := r.Rewrite
	if rw == nil {
		return nil
	}
	var errs config.Errors
	p := base + ".rewrite"
	if h := rw.Host; h != "" && h != "preserve" {
		if _, err := NormalizeHost(strings.Split(h, ":")[0]); err != nil || strings.HasPrefix(h, "*") || strings.Count(h, ":") > 1 {
			errs = append(errs, cfg.FieldError(p+".host", fmt.Errorf("host %q must be preserve or a host name, optionally with :port", h)))
		}
	}
	if rw.Path == "" {
		return errs
	}
	names, err := config.TemplateParams(rw.Path)
	if err != nil {
		return errs // reported by validation
	}
	for _, n := range names {
		for _, pat := range pats {
			if !slices.Contains(pat.Params, n) {
				errs = append(errs, cfg.FieldError(p+".path", fmt.Errorf("template uses {%s}, but path pattern %s does not capture it", n, pat.Raw)))
			}
		}
	}
	return errs
}
