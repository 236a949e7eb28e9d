package audit

import (
	"fmt"
	"io"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/registry"
	"github.com/rampart-gw/rampart/internal/respfilter"
	"github.com/rampart-gw/rampart/internal/schema"
	"github.com/rampart-gw/rampart/internal/waf"
)

// Explain writes, for the route named name, the chain of checks a request
// meets, stage by stage (DESIGN.md §1), in the words of the config.
// The registries of reg describe the authenticators and transforms.
func Explain(w io.Writer, cfg *config.Config, reg registry.Set, name string) error {
	reg.Fill()
	kinds, transforms := reg.Authenticators, reg.ResponseTransforms
	var r *config.Route
	var names []string
	for _, rt := range cfg.Routes {
		names = append(names, rt.Name)
		if rt.Name == name {
			r = rt
		}
	}
	if r == nil {
		return fmt.Errorf("no route named %q; the routes are: %s", name, strings.Join(names, ", "))
	}
	pol := cfg.Policies[r.Policy]
	lim := cfg.Server.Limits
	step := func(n, format string, args ...any) { fmt.Fprintf(w, "%4s  %s\n", n, fmt.Sprintf(format, args...)) }

	fmt.Fprintf(w, "route %s (policy %s, upstream %s)\n", r.Name, r.Policy, r.Upstream)
	step("conn", "headers within %s and %s; at most %d connections per client address", lim.ReadHeaderTimeout.D(), lim.MaxHeaderBytes, lim.MaxConnectionsPerIP)
	proxies := "none: the peer address is the client"
	if len(cfg.Server.TrustedProxies) > 0 {
		proxies = strings.Join(cfg.Server.TrustedProxies, ", ")
	}
	step("2", "sanitise: client IP from trusted proxies (%s); hop-by-hop, spoofable X-Forwarded-* and X-Rampart-* headers removed; path normalised (encoded slashes, NUL, climbing above the root refused: 400)", proxies)
	hosts, methods := "any host", "any method"
	if len(r.Match.Hosts) > 0 {
		hosts = strings.Join(r.Match.Hosts, ", ")
	}
	if len(r.Match.Methods) > 0 {
		methods = strings.Join(r.Match.Methods, ", ")
	}
	step("3", "match: %s; %s; paths %s (otherwise 404, or 405 with Allow)", hosts, methods, strings.Join(r.Match.Paths, ", "))
	if pol != nil && pol.IP != nil {
		step("4", "addresses: allow %s; deny %s (403 address-denied)", orAny(pol.IP.Allow), orNone(pol.IP.Deny))
	}
	if pol != nil && pol.Geo != nil {
		step("4", "countries: allow %s; deny %s; unknown %s (403 address-denied)", orAny(pol.Geo.Allow), orNone(pol.Geo.Deny), pol.Geo.Unknown)
	}
	if pol != nil && pol.CORS != nil {
		c := pol.CORS
		creds := "without credentials"
		if c.AllowCredentials {
			creds = "with credentials"
		}
		step("5", "CORS: preflights from %s for %s answered here (204, max-age %s; others 403); %s; headers %s",
			strings.Join(c.AllowOrigins, ", "), strings.Join(c.AllowMethods, ", "), c.MaxAge.D(), creds, strings.Join(c.AllowHeaders, ", "))
	}
	pre, post := traffic(pol)
	for _, t := range pre {
		step(t.stage, "%s", t.text)
	}
	if pol != nil && pol.Bots != nil {
		var parts []string
		for _, g := range pol.Bots.GoodBots {
			parts = append(parts, "good bot "+g.Name+" let through")
		}
		for _, r := range pol.Bots.Rules {
			parts = append(parts, r.Action+" when `"+strings.Join(strings.Fields(r.When), " ")+"` ("+r.Name+")")
		}
		step("6", "bot defence, in order: %s", strings.Join(parts, "; "))
	}
	body := int64(lim.MaxBodyBytes)
	if pol != nil && pol.Validate != nil && pol.Validate.MaxBodyBytes > 0 {
		body = min(body, int64(pol.Validate.MaxBodyBytes))
	}
	step("8", "body: at most %s (413), sent within %s (408)", config.Size(body), lim.BodyTimeout.D())
	if pol != nil && pol.Validate != nil {
		if ct := pol.Validate.ContentTypes; len(ct) > 0 {
			step("8", "body type: %s (else 415)", strings.Join(ct, ", "))
		}
		if j := pol.Validate.JSON; j != nil {
			dups := "refused"
			if j.AllowDuplicateKeys {
				dups = "allowed"
			}
			step("8", "JSON structure: depth %d, %d keys per object, %d items per array, strings up to %s, duplicate keys %s (else 400 invalid-body)",
				j.MaxDepth, j.MaxKeys, j.MaxArray, j.MaxString, dups)
		}
		if x := pol.Validate.XML; x != nil {
			step("8", "XML structure: no DTD, depth %d, %d elements, %d attributes per element, text up to %s (else 400 invalid-body)",
				x.MaxDepth, x.MaxElements, x.MaxAttributes, x.MaxText)
		}
	}
	if pol == nil || len(pol.Authenticate) == 0 {
		step("9", "authenticate: none, anonymous requests are admitted")
	} else {
		var ways []string
		for _, n := range pol.Authenticate {
			ways = append(ways, kinds.Describe(n, cfg.Authenticators[n]))
		}
		step("9", "authenticate, any of: %s; no credentials: 401, refused: 401, IdP unreachable: 503", strings.Join(ways, "; "))
	}
	if pol != nil && pol.Authorize != nil {
		step("10", "authorize, all of: %s", strings.Join(describeAuthorize(cfg, pol.Authorize), "; "))
	} else if pol != nil {
		step("10", "authorize: nothing beyond authentication")
	}
	for _, t := range post {
		step(t.stage, "%s", t.text)
	}
	if pol != nil && pol.Validate != nil && pol.Validate.OpenAPI != "" {
		undocumented := "pass unchecked"
		if pol.Validate.Strict {
			undocumented = "refused (404/405)"
		}
		step("12", "OpenAPI %s: parameters, headers, cookies and body checked (else 400 schema-violation); undocumented operations %s", pol.Validate.OpenAPI, undocumented)
	}
	if pol != nil && pol.WAF != nil {
		w := pol.WAF
		action := "403 waf-blocked"
		if w.Mode == "detect" {
			action = "detect only: waf.detect events, nothing blocked"
		}
		step("13", "WAF: OWASP CRS at paranoia %d, inbound threshold %d, %d exclusions; %s", w.Paranoia, w.InboundThreshold, len(w.Exclusions), action)
		var types []string
		if pol.Validate != nil {
			types = pol.Validate.ContentTypes
		}
		v := waf.RouteVarsOf(r.Match.Methods, types)
		step("", "the CRS is told the route's methods (tx.allowed_methods %q) and body types (tx.allowed_request_content_type %q)", v.Methods, v.ContentTypes)
		wafReads(step, cfg, pol)
	}
	if u := cfg.Upstreams[r.Upstream]; u != nil && u.LoadShedding != nil {
		prio := "normal for authenticated callers, low for anonymous ones"
		if pol != nil && pol.Priority != "" {
			prio = pol.Priority
		}
		ls := u.LoadShedding
		step("14", "load shedding: adaptive limit on requests in flight to %s (%d..%d, latency up to %gx its baseline); priority %s (a consumer's priority attribute wins); shed: 503 overloaded",
			r.Upstream, ls.MinLimit, ls.MaxLimit, ls.Tolerance, prio)
	}
	auth := "the client's Authorization header is removed"
	if r.ForwardAuthorization {
		auth = "the client's Authorization header is forwarded (forward_authorization)"
	}
	if pol != nil && pol.Request != nil {
		step("15", "request fields encrypted for the upstream with keyset %s: %s", pol.Request.Keyset, strings.Join(pol.Request.EncryptFields, ", "))
	}
	step("15", "to the upstream: X-Rampart-Consumer, X-Rampart-Scopes and X-Rampart-Assertion (ES256, %s, aud %s); %s", cfg.Identity.AssertionTTL.D(), r.Upstream, auth)
	if u := cfg.Upstreams[r.Upstream]; u != nil {
		var targets []string
		for _, t := range u.Targets {
			targets = append(targets, t.URL)
		}
		step("16", "proxy to %s (%s), response headers within %s", strings.Join(targets, ", "), u.Balancer, u.Timeouts.ResponseHeader.D())
	}
	for _, line := range responseSteps(cfg, pol, transforms) {
		step("17", "%s", line)
	}
	return nil
}

// responseSteps describes stage 17: what the gateway changes in the
// upstream's response before the client sees it.
// wafReads says which fields of JSON bodies the WAF reads: all of them,
// but for the fields the OpenAPI description proves typed (schema.Typed).
func wafReads(step func(n, format string, args ...any), cfg *config.Config, pol *config.Policy) {
	if pol.Validate == nil || pol.Validate.OpenAPI == "" {
		step("", "the WAF reads every field of the request (no OpenAPI description proves any typed)")
		return
	}
	doc, err := schema.LoadDocument(cfg.Path(pol.Validate.OpenAPI))
	if err != nil {
		step("", "the WAF reads every field of the request (%s does not load: %v)", pol.Validate.OpenAPI, err)
		return
	}
	ops := schema.TypedOperations(doc)
	if len(ops) == 0 {
		step("", "the WAF reads every field of the request: %s proves no body field typed", pol.Validate.OpenAPI)
		return
	}
	step("", "the WAF reads every field but those %s proves typed once validated (integers, numbers, booleans, enum members, uuid, date-time; patterns marked x-rampart-waf: trusted):", pol.Validate.OpenAPI)
	for _, op := range ops {
		step("", "  %s %s: not read: %s", op.Method, op.Path, strings.Join(op.Fields, ", "))
	}
}

func responseSteps(cfg *config.Config, pol *config.Policy, transforms respfilter.Transforms) []string {
	var out []string
	if pol != nil && pol.CORS != nil {
		out = append(out, "CORS headers owned by the gateway: the upstream's Access-Control-* are replaced")
	}
	if pol != nil && pol.Response != nil {
		rc := pol.Response
		does := transforms.Describe(rc)
		over := "a larger response is refused (502)"
		if rc.OnOversize == "pass" {
			over = "a larger response passes unfiltered"
		}
		out = append(out, fmt.Sprintf("response body held up to %s and filtered, %s; %s", rc.MaxBodyBytes, strings.Join(does, "; "), over))
	}
	strip := "none removed"
	if hs := cfg.Server.StripResponseHeaders; len(hs) > 0 {
		strip = "removed: " + strings.Join(hs, ", ")
	}
	out = append(out, "response headers: "+strip+"; security headers added where the upstream sent none")
	return out
}

type trafficStep struct{ stage, text string }

// traffic describes a policy's graduated response, limits, quota and
// concurrency cap: those keyed before authentication (stages 6 and 7)
// and those after it (stage 11).
func traffic(pol *config.Policy) (pre, post []trafficStep) {
	if pol == nil {
		return nil, nil
	}
	anonymous := len(pol.Authenticate) == 0
	preAuth := func(key string) bool { return !strings.Contains(key, "consumer") && !strings.Contains(key, "claim:") }
	if g := pol.Graduated; g != nil {
		var levels []string
		if g.Warn > 0 {
			levels = append(levels, fmt.Sprintf("from %d warn (Rampart-Warning)", g.Warn))
		}
		if t := g.Throttle; t != nil {
			levels = append(levels, fmt.Sprintf("from %d delay %s", t.After, t.Delay.D()))
		}
		if g.Block > 0 {
			levels = append(levels, fmt.Sprintf("from %d refuse (429 blocked)", g.Block))
		}
		if b := g.Ban; b != nil {
			var ps []string
			for _, p := range b.Periods {
				ps = append(ps, p.D().String())
			}
			levels = append(levels, fmt.Sprintf("from %d ban (403) for %s", b.After, strings.Join(ps, ", then ")))
		}
		t := trafficStep{"6", fmt.Sprintf("graduated response per %s on %s in %s: %s", g.Key, strings.Join(g.Offences, ", "), g.Window.D(), strings.Join(levels, "; "))}
		if preAuth(g.Key) {
			pre = append(pre, t)
		} else {
			t.stage = "11"
			post = append(post, t)
		}
	}
	for _, rl := range pol.RateLimits {
		mode := "429 with Retry-After"
		if rl.Mode == "shadow" {
			mode = "shadow: reported, never refused"
		}
		t := trafficStep{"11", fmt.Sprintf("rate limit %s: %s per %s, burst %d, one budget per %s (%s)", rl.DisplayName(), rl.Rate, rl.Key, rl.Burst, rl.Scope, mode)}
		if preAuth(rl.Key) && !anonymous {
			t.stage = "7"
			pre = append(pre, t)
		} else {
			post = append(post, t)
		}
	}
	if q := pol.Quota; q != nil {
		post = append(post, trafficStep{"11", fmt.Sprintf("quota: %d per %s per %s, calendar-aligned in %s (429 quota-exceeded)", q.Limit, q.Period, q.Key, q.TimeZone)})
	}
	if c := pol.Concurrency; c != nil {
		post = append(post, trafficStep{"11", fmt.Sprintf("concurrency: %d in flight per %s, %d more wait up to %s (503)", c.Limit, c.Key, c.Queue, c.QueueTimeout.D())})
	}
	return pre, post
}

func describeAuthorize(cfg *config.Config, a *config.Authorize) []string {
	if a.AnyAuthenticated {
		return []string{"any authenticated caller"}
	}
	var out []string
	if len(a.RequireACR) > 0 {
		out = append(out, "acr one of "+strings.Join(a.RequireACR, ", ")+" (else 401 step-up)")
	}
	if a.MaxAuthAge > 0 {
		out = append(out, fmt.Sprintf("signed in within %s (else 401 step-up)", a.MaxAuthAge.D()))
	}
	if len(a.Scopes) > 0 {
		out = append(out, "scopes "+strings.Join(a.Scopes, " and ")+" (else 403)")
	}
	if len(a.Roles) > 0 {
		var roles []string
		for _, name := range a.Roles {
			var rules []string
			if r := cfg.Roles[name]; r != nil {
				for _, al := range r.Allow {
					m := "any method"
					if len(al.Methods) > 0 {
						m = strings.Join(al.Methods, ",")
					}
					rules = append(rules, m+" "+strings.Join(al.Paths, " "))
				}
			}
			roles = append(roles, name+" ["+strings.Join(rules, "; ")+"]")
		}
		out = append(out, "one of the roles "+strings.Join(roles, ", ")+" allowing the method and path (else 403)")
	}
	if a.When != "" {
		out = append(out, "condition `"+strings.Join(strings.Fields(a.When), " ")+"` (else 403)")
	}
	if e := a.External; e != nil {
		mode := "fails closed: 503"
		if e.FailOpen {
			mode = "fails open"
		}
		out = append(out, fmt.Sprintf("external service %s (timeout %s, cached %s, %s)", e.URL, e.Timeout.D(), e.CacheTTL.D(), mode))
	}
	return out
}

func orAny(list []string) string {
	if len(list) == 0 {
		return "any"
	}
	return strings.Join(list, ", ")
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}
