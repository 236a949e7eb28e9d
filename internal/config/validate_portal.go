package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// portalPathRE is what portal.path may be: one or more plain segments.
var portalPathRE = regexp.MustCompile(`^(/[a-z0-9][a-z0-9._-]*)+$`)

// portal checks the developer portal: its path is plain and no route is
// served under it (the portal answers there first), its listener is a
// valid address, and self-service names a policy that authenticates.
// problems checks problems.type_base: an absolute URI or an absolute
// path, to which a slug can be appended.
func (v *validator) problems() {
	b := v.cfg.Problems.TypeBase
	if b == "" {
		return
	}
	u, err := url.Parse(b)
	switch {
	case err != nil || strings.ContainsAny(b, " \t\r\n\"<>\\^`{|}"):
		v.errorf("problems.type_base", "%q is not a URI", b)
	case u.Scheme == "" && !strings.HasPrefix(b, "/"):
		v.errorf("problems.type_base", "%q must be an absolute URI (https://docs.example.com/problems/, tag:...) or a path starting with /", b)
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(b, "?#"):
		v.errorf("problems.type_base", "%q must not hold a query or fragment: the slug is appended to it", b)
	case strings.HasPrefix(b, "//"):
		v.errorf("problems.type_base", "%q is a network-path reference; write the scheme", b)
	}
}

func (v *validator) portal() {
	p := v.cfg.Portal
	if p == nil {
		return
	}
	path := p.Path
	if path == "" {
		path = DefaultPortalPath
	}
	if !portalPathRE.MatchString(path) {
		v.errorf("portal.path", "portal path %q must be plain lower-case segments such as /portal or /developers, with no trailing slash", path)
	} else {
		for i, r := range v.cfg.Routes {
			if r == nil {
				continue
			}
			for j, rp := range r.Match.Paths {
				if rp == path || strings.HasPrefix(rp, path+"/") {
					v.errorf(fmt.Sprintf("routes[%d].match.paths[%d]", i, j), "route %q is served under the portal's path %s, where the portal answers first: move the route or set portal.path", r.Name, path)
				}
			}
		}
	}
	if p.Listen != "" {
		v.listenAddr("portal.listen", p.Listen)
	}
	if p.Policy != "" {
		pol := v.cfg.Policies[p.Policy]
		switch {
		case pol == nil:
			v.errorf("portal.policy", "unknown policy %q%s", p.Policy, suggest(p.Policy, sortedKeys(v.cfg.Policies)))
		case len(pol.Authenticate) == 0:
			v.errorf("portal.policy", "policy %q authenticates no one, so self-service could not tell consumers apart: name a policy with authenticate", p.Policy)
		}
	}
}
