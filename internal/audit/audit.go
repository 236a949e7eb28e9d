// Package audit reads a valid config the way a security reviewer would:
// Audit lists weaknesses with their position and a severity, and Explain
// prints, for one route, the chain of checks a request meets. Validation
// (internal/config) refuses what is wrong; audit reports what is allowed
// but risky.
package audit

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/registry"
)

// Severity orders findings.
type Severity int

// Severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
)

var severityNames = [...]string{"info", "low", "medium", "high"}

func (s Severity) String() string { return severityNames[s] }

// ParseSeverity reads info, low, medium or high.
func ParseSeverity(s string) (Severity, bool) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), true
		}
	}
	return 0, false
}

// Finding is one weakness.
type Finding struct {
	Pos      config.Pos
	Path     string // the config path, e.g. routes[2].policy
	Severity Severity
	ID       string // stable: anonymous-route, ...
	Msg      string // what and what to do
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: [%s] %s: %s", f.Pos, f.Severity, f.ID, f.Path, f.Msg)
}

type auditor struct {
	cfg   *config.Config
	now   time.Time
	kinds *authn.Kinds
	out   []Finding
}

func (a *auditor) add(path string, sev Severity, id, format string, args ...any) {
	a.out = append(a.out, Finding{Pos: a.cfg.Pos(path), Path: path, Severity: sev, ID: id, Msg: fmt.Sprintf(format, args...)})
}

// loginPath matches paths where credentials are presented.
var loginPath = regexp.MustCompile(`(?i)(^|/)(login|signin|sign-in|logon|auth|authenticate|token|oauth2?|password|session|otp|mfa)(/|$|\*)`)

// Audit returns cfg's findings, most severe first, then in file order;
// reg's authenticator types say what each finds weak in its settings.
func Audit(cfg *config.Config, reg registry.Set) []Finding {
	return AuditAt(cfg, reg, time.Now())
}

// AuditAt is Audit as of now (dates in the config are judged against it).
func AuditAt(cfg *config.Config, reg registry.Set, now time.Time) []Finding {
	reg.Fill()
	a := &auditor{cfg: cfg, kinds: reg.Authenticators, now: now}
	a.listeners()
	a.admin()
	a.authenticators()
	a.store()
	a.policies()
	a.routes()
	a.upstreams()
	sort.SliceStable(a.out, func(i, j int) bool {
		if a.out[i].Severity != a.out[j].Severity {
			return a.out[i].Severity > a.out[j].Severity
		}
		return a.out[i].Pos.Line < a.out[j].Pos.Line || a.out[i].Pos.Line == a.out[j].Pos.Line && a.out[i].Pos.Col < a.out[j].Pos.Col
	})
	return a.out
}

func (a *auditor) listeners() {
	s := a.cfg.Server
	for i, l := range s.Listen {
		host, _, err := net.SplitHostPort(l)
		if err != nil || isLoopback(host) {
			continue
		}
		path := fmt.Sprintf("server.listen[%d]", i)
		switch {
		case s.HTTPSRedirect:
		case len(s.TrustedProxies) > 0:
			a.add(path, Low, "cleartext-listener", "cleartext HTTP on %s; acceptable only behind the trusted TLS-terminating proxy, make sure nothing else can reach it", l)
		default:
			a.add(path, High, "cleartext-listener", "cleartext HTTP on %s, reachable from the network: tokens and keys travel in clear. Serve TLS (server.tls) or set https_redirect", l)
		}
	}
	if t := s.TLS; t != nil {
		if t.MinVersion == "1.2" {
			a.add("server.tls.min_version", Info, "tls12-allowed", "TLS 1.2 is accepted (with ECDHE and AEAD suites only); set min_version: \"1.3\" when every client supports it")
		}
		if t.HSTS != nil && t.HSTS.Disabled {
			a.add("server.tls.hsts.disabled", Medium, "hsts-disabled", "HSTS is off: a browser can be downgraded to cleartext on its first visit")
		}
	}
}

func (a *auditor) admin() {
	ad := a.cfg.Admin
	if ad.Disabled {
		return
	}
	if !ad.Token.IsSet() {
		a.add("admin.listen", Medium, "admin-without-token", "the admin API (keys, consumers, reloads) has no token: any local process or user can call it. Set admin.token: env:RAMPART_ADMIN_TOKEN")
	}
	a.secretFile("admin.token", ad.Token)
}

func (a *auditor) authenticators() {
	for _, name := range slices.Sorted(maps.Keys(a.cfg.Authenticators)) {
		au := a.cfg.Authenticators[name]
		base := "authenticators." + name
		if kind, ok := a.kinds.Lookup(au.Type); ok && kind.Weaknesses != nil {
			for _, w := range kind.Weaknesses(base, au) {
				sev, _ := ParseSeverity(w.Severity)
				a.add(w.Path, sev, w.ID, "%s", w.Detail)
			}
		}
	}
	a.secretFiles("authenticators.")
}

func (a *auditor) store() {
	st := a.cfg.Store
	if st == nil {
		return
	}
	if st.SyncInterval.D() > 30*time.Second {
		a.add("store.sync_interval", Low, "slow-revocation", "a revoked API key keeps working up to %s on other nodes", st.SyncInterval.D())
	}
	if st.HashKey == nil {
		a.add("store", Info, "no-hash-key", "API keys are hashed without a pepper: a stolen database lets an attacker confirm a guessed key. Set store.hash_key before creating keys")
	}
	a.secretFiles("store.")
}

// secretFiles checks the secret files of the settings under prefix.
func (a *auditor) secretFiles(prefix string) {
	for _, s := range a.cfg.Secrets() {
		if strings.HasPrefix(s.Path, prefix) {
			a.secretFile(s.Path, s.Secret)
		}
	}
}

func (a *auditor) policies() {
	for _, name := range slices.Sorted(maps.Keys(a.cfg.Policies)) {
		p := a.cfg.Policies[name]
		if p != nil && p.WAF != nil && p.WAF.Mode == "detect" {
			a.add("policies."+name+".waf.mode", Medium, "waf-detect", "the WAF only reports attacks on this policy and blocks none; switch to block once the events show no false positives")
		}
		if p != nil && p.CORS != nil && slices.Contains(p.CORS.AllowOrigins, "*") && len(p.Authenticate) > 0 {
			a.add("policies."+name+".cors.allow_origins", Medium, "wide-cors", "any web site may call this authenticated API from its visitors' browsers (with tokens a page holds); list the origins of your own front ends")
		}
		if p == nil || p.Authorize == nil {
			continue
		}
		base := "policies." + name + ".authorize"
		az := p.Authorize
		if az.AnyAuthenticated && len(p.Authenticate) > 0 {
			a.add(base+".any_authenticated", Low, "any-authenticated", "any caller the authenticators %s accept is allowed every route of this policy; prefer scopes or roles", strings.Join(p.Authenticate, ", "))
		}
		if e := az.External; e != nil && e.FailOpen {
			a.add(base+".external.fail_open", High, "authz-fail-open", "requests are allowed whenever the authorization service cannot be asked: an attacker who can slow it down gets in")
		}
	}
}

func (a *auditor) routes() {
	for i, r := range a.cfg.Routes {
		base := fmt.Sprintf("routes[%d]", i)
		pol := a.cfg.Policies[r.Policy]
		anonymous := r.Policy == config.PublicPolicy || pol != nil && len(pol.Authenticate) == 0
		if anonymous {
			sev := Medium
			if writes(r.Match.Methods) && !limitsPerIP(pol) {
				sev = High
			}
			a.add(base+".policy", sev, "anonymous-route", "route %s is open to anyone%s; if that is intended, keep it read-only and rate-limited", r.Name, methodsNote(r.Match.Methods))
		}
		for j, p := range r.Match.Paths {
			if loginPath.MatchString(p) && !limitsPerIP(pol) {
				a.add(fmt.Sprintf("%s.match.paths[%d]", base, j), High, "login-without-rate-limit",
					"route %s takes credentials (%s) and has no rate limit per client IP: credential stuffing and brute force go unchecked. Give its policy rate_limits: [{key: ip, rate: 10/m}]", r.Name, p)
				break
			}
		}
		if r.ForwardAuthorization {
			a.add(base+".forward_authorization", Medium, "token-forwarded", "the client's Authorization header reaches upstream %s, which can replay it elsewhere; upstreams should use X-Rampart-Assertion", r.Upstream)
		}
		a.lifecycle(base, r)
	}
}

// lifecycle reports deprecated routes that are past their sunset (dead
// config that answers only 410) or have none (callers cannot plan).
func (a *auditor) lifecycle(base string, r *config.Route) {
	d := r.Deprecation
	switch {
	case d == nil:
	case d.Sunset.IsZero():
		a.add(base+".deprecation", Info, "deprecated-without-sunset",
			"route %s is deprecated with no sunset date: callers get no Sunset header to plan their move by; set deprecation.sunset", r.Name)
	case !a.now.Before(d.Sunset.Time):
		a.add(base+".deprecation.sunset", Low, "route-past-sunset",
			"route %s passed its sunset on %s and answers only 410 Gone; remove it once route.deprecated events and rampart_deprecated_requests_total show its callers have moved", r.Name, d.Sunset.UTC().Format(time.DateOnly))
	}
}

func (a *auditor) upstreams() {
	for _, name := range slices.Sorted(maps.Keys(a.cfg.Upstreams)) {
		u := a.cfg.Upstreams[name]
		for i, t := range u.Targets {
			pu, err := url.Parse(t.URL)
			if err != nil || pu.Scheme != "http" || isLoopback(pu.Hostname()) {
				continue
			}
			a.add(fmt.Sprintf("upstreams.%s.targets[%d].url", name, i), Low, "cleartext-upstream",
				"traffic to %s, identity headers included, crosses the network in clear; use https (and upstream mTLS)", t.URL)
		}
	}
}

// secretFile reports a file: secret others can read.
func (a *auditor) secretFile(path string, s *config.Secret) {
	if !s.IsSet() {
		return
	}
	f, ok := strings.CutPrefix(s.Ref, "file:")
	if !ok {
		return
	}
	fi, err := os.Stat(a.cfg.Path(f))
	if err == nil && fi.Mode().Perm()&0o077 != 0 {
		a.add(path, Medium, "secret-file-readable", "the secret file %s is readable by group or others (mode %o): chmod 600", f, fi.Mode().Perm())
	}
}

// limitsPerIP reports whether a policy limits requests per client IP, a
// limit that applies before authentication.
func limitsPerIP(p *config.Policy) bool {
	if p == nil {
		return false
	}
	for _, rl := range p.RateLimits {
		if rl != nil && slices.Contains(strings.Split(rl.Key, "+"), "ip") && rl.Mode != "shadow" {
			return true
		}
	}
	return false
}

func writes(methods []string) bool {
	if len(methods) == 0 {
		return true
	}
	return slices.ContainsFunc(methods, func(m string) bool { return m != "GET" && m != "HEAD" && m != "OPTIONS" })
}

func methodsNote(methods []string) string {
	if len(methods) == 0 {
		return " with every method"
	}
	return " (" + strings.Join(methods, ", ") + ")"
}

func isLoopback(host string) bool { return config.IsLoopback(host) }
