package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// sfKey is a structured-field key, the form a limit's name takes in the
// RateLimit headers.
var sfKey = regexp.MustCompile(`^[a-z*][a-z0-9_.*-]{0,63}$`)

// keyParts checks a key spec, reporting at path.
func (v *validator) keyParts(path, key string, authenticates bool) {
	parts := strings.Split(key, "+")
	if len(parts) > 8 {
		v.errorf(path, "a key joins at most 8 parts, this one %d", len(parts))
		return
	}
	seen := map[string]bool{}
	for _, part := range parts {
		kind, name, hasName := strings.Cut(part, ":")
		switch {
		case !hasName && (kind == "consumer" || kind == "ip" || kind == "route"):
		case kind == "header" && ValidHeaderName(name):
		case kind == "claim" && name != "" && !strings.ContainsAny(name, " +"):
		default:
			v.errorf(path, "key part %q is not consumer, ip, route, header:NAME or claim:NAME (join parts with +, e.g. consumer+route)", part)
			continue
		}
		if seen[part] {
			v.errorf(path, "key part %q is listed twice", part)
		}
		seen[part] = true
		if (kind == "consumer" || kind == "claim") && !authenticates {
			v.errorf(path, "key %s needs an authenticated caller, but the policy authenticates nobody: every request would share one budget. Use ip, or add authenticate", part)
		}
	}
}

// policyQuota checks a policy's quota.
func (v *validator) policyQuota(base string, p *Policy) {
	q := p.Quota
	if q == nil {
		return
	}
	path := base + ".quota"
	if q.Limit < 1 {
		v.errorf(path+".limit", "limit %d must be at least 1", q.Limit)
	}
	if q.TimeZone != "" {
		if _, err := time.LoadLocation(q.TimeZone); err != nil {
			v.errorf(path+".time_zone", "unknown time zone %q: use an IANA name such as UTC or Europe/Paris", q.TimeZone)
		}
	}
	if q.Key != "" {
		v.keyParts(path+".key", q.Key, len(p.Authenticate) > 0)
	} else if len(p.Authenticate) == 0 {
		v.errorf(path+".key", "a quota on an anonymous policy needs a key such as ip: the default, consumer, needs an authenticated caller")
	}
}

// offenceTypes are the problem types a graduated response may count:
// refusals a client causes by what it sends, not the gateway's or an
// upstream's failures.
var offenceTypes = []string{"rate-limited", "quota-exceeded", "concurrency-limited", "unauthorized", "invalid-credentials",
	"forbidden", "insufficient-authentication", "bad-request", "not-found", "method-not-allowed", "payload-too-large", "headers-too-large",
	"bot-blocked", "challenge-required", "rate-anomaly", "threat-listed", "credential-stuffing", "enumeration"}

// policyBots checks a policy's bot defence.
func (v *validator) policyBots(base string, p *Policy) {
	b := p.Bots
	if b == nil {
		return
	}
	path := base + ".bots"
	names := map[string]bool{}
	challenged := false
	for i, r := range b.Rules {
		rp := fmt.Sprintf("%s.rules[%d]", path, i)
		if r == nil {
			v.errorf(rp, "a rule needs name, when and action")
			continue
		}
		if !sfKey.MatchString(r.Name) {
			v.errorf(rp+".name", "name %q must be lower case letters, digits, '_', '-' or '.'", r.Name)
		} else if names[r.Name] {
			v.errorf(rp+".name", "rule name %q is used twice", r.Name)
		}
		names[r.Name] = true
		challenged = challenged || r.Action == "challenge"
	}
	if c := b.Challenge; c != nil {
		if c.Difficulty != 0 && (c.Difficulty < 8 || c.Difficulty > 24) {
			v.errorf(path+".challenge.difficulty", "difficulty %d must be between 8 and 24 bits", c.Difficulty)
		}
		if c.TTL.D() > 24*time.Hour {
			v.errorf(path+".challenge.ttl", "ttl %s is above 24h", c.TTL.D())
		}
		if c.Secret.Resolved() && len(c.Secret.Value()) < 32 {
			v.errorf(path+".challenge.secret", "the challenge secret must be at least 32 bytes (e.g. openssl rand -hex 32)")
		}
	} else if challenged {
		v.errorf(path+".challenge", "a rule's action is challenge, so bots needs challenge: {secret: env:NAME}")
	}
	if a := b.Anomaly; a != nil && a.Factor != 0 && (a.Factor < 2 || a.Factor > 1000) {
		v.errorf(path+".anomaly.factor", "factor %g must be between 2 and 1000", a.Factor)
	}
	for i, g := range b.GoodBots {
		gp := fmt.Sprintf("%s.good_bots[%d]", path, i)
		if g == nil {
			continue
		}
		if len(g.Domains) == 0 && len(g.CIDRs) == 0 {
			v.errorf(gp, "good bot %s needs domains (verified by reverse DNS) or cidrs: a User-Agent alone is trivially forged", g.Name)
		}
		if len(g.Domains) > 0 && g.UserAgent == "" {
			v.errorf(gp+".user_agent", "good bot %s verified by domains needs user_agent, so only clients claiming to be it cost a DNS lookup", g.Name)
		}
		for j, d := range g.Domains {
			if d == "" || strings.HasPrefix(d, ".") || strings.ContainsAny(d, " /*") {
				v.errorf(fmt.Sprintf("%s.domains[%d]", gp, j), "%q is not a domain such as googlebot.com", d)
			}
		}
		for j, c := range g.CIDRs {
			if _, err := ParsePrefix(c); err != nil {
				v.errorf(fmt.Sprintf("%s.cidrs[%d]", gp, j), "%v", err)
			}
		}
	}
}

// policyGraduated checks a policy's graduated response: the levels in
// use must escalate (warn < throttle < block < ban).
func (v *validator) policyGraduated(base string, p *Policy) {
	gr := p.Graduated
	if gr == nil {
		return
	}
	path := base + ".graduated"
	if gr.Key != "" {
		v.keyParts(path+".key", gr.Key, len(p.Authenticate) > 0)
	}
	for i, o := range gr.Offences {
		if !slices.Contains(offenceTypes, o) {
			v.errorf(fmt.Sprintf("%s.offences[%d]", path, i), "%q is not a problem type a client's requests cause; use one of %s", o, strings.Join(offenceTypes, ", "))
		}
	}
	if w := gr.Window.D(); w != 0 && (w < time.Second || w > 24*time.Hour) {
		v.errorf(path+".window", "window %s must be between 1s and 24h", w)
	}
	type level struct {
		name, path string
		at         int64
	}
	var levels []level
	add := func(name, p string, at int64) {
		if at < 0 || at > 1_000_000 {
			v.errorf(p, "%s %d must be between 1 and 1000000 offences (0 turns the level off)", name, at)
		} else if at > 0 {
			levels = append(levels, level{name, p, at})
		}
	}
	add("warn", path+".warn", gr.Warn)
	if t := gr.Throttle; t != nil {
		if t.After < 1 {
			v.errorf(path+".throttle.after", "after %d must be at least 1", t.After)
		}
		add("throttle", path+".throttle.after", t.After)
		if d := t.Delay.D(); d > 10*time.Second {
			v.errorf(path+".throttle.delay", "delay %s is above 10s: a throttled request holds a connection that long", d)
		}
	}
	add("block", path+".block", gr.Block)
	if b := gr.Ban; b != nil {
		if b.After < 1 {
			v.errorf(path+".ban.after", "after %d must be at least 1", b.After)
		}
		add("ban", path+".ban.after", b.After)
		for i, d := range b.Periods {
			if d.D() < time.Second || d.D() > 365*24*time.Hour {
				v.errorf(fmt.Sprintf("%s.ban.periods[%d]", path, i), "a ban period must be between 1s and 365 days, not %s", d.D())
			}
		}
		if len(b.Periods) > 16 {
			v.errorf(path+".ban.periods", "at most 16 periods, not %d", len(b.Periods))
		}
	}
	if len(levels) == 0 {
		v.errorf(path, "graduated needs at least one of warn, throttle, block or ban")
	}
	for i := 1; i < len(levels); i++ {
		if levels[i].at <= levels[i-1].at {
			v.errorf(levels[i].path, "%s at %d offences must come after %s at %d: the levels escalate warn < throttle < block < ban",
				levels[i].name, levels[i].at, levels[i-1].name, levels[i-1].at)
		}
	}
}

// loadShedding checks an upstream's adaptive limit.
func (v *validator) loadShedding(path string, ls *LoadShedding) {
	if ls == nil {
		return
	}
	for _, f := range []struct {
		key string
		n   int
	}{{"min_limit", ls.MinLimit}, {"max_limit", ls.MaxLimit}, {"initial_limit", ls.InitialLimit}} {
		if f.n < 0 || f.n > 1_000_000 {
			v.errorf(path+"."+f.key, "%s %d must be between 1 and 1000000", f.key, f.n)
		}
	}
	if ls.MinLimit > 0 && ls.MaxLimit > 0 && ls.MinLimit > ls.MaxLimit {
		v.errorf(path+".max_limit", "max_limit %d is below min_limit %d", ls.MaxLimit, ls.MinLimit)
	}
	if ls.Tolerance != 0 && (ls.Tolerance <= 1 || ls.Tolerance > 100) {
		v.errorf(path+".tolerance", "tolerance %g must be above 1 (latency may rise to tolerance x its baseline) and at most 100", ls.Tolerance)
	}
	if w := ls.Window.D(); w != 0 && (w < 10*time.Second || w > 24*time.Hour) {
		v.errorf(path+".window", "window %s must be between 10s and 24h", w)
	}
}

// policyConcurrency checks a policy's concurrency cap.
func (v *validator) policyConcurrency(base string, p *Policy) {
	c := p.Concurrency
	if c == nil {
		return
	}
	path := base + ".concurrency"
	if c.Limit < 1 || c.Limit > 1_000_000 {
		v.errorf(path+".limit", "limit %d must be between 1 and 1000000", c.Limit)
	}
	if c.Queue < 0 || c.Queue > 100_000 {
		v.errorf(path+".queue", "queue %d must be between 0 and 100000", c.Queue)
	}
	if c.QueueTimeout.D() > 30*time.Second {
		v.errorf(path+".queue_timeout", "queue_timeout %s is above 30s", c.QueueTimeout.D())
	}
	if c.Key != "" { // empty: consumer, or ip on an anonymous policy
		v.keyParts(path+".key", c.Key, len(p.Authenticate) > 0)
	}
}

// policyRateLimits checks a policy's rate limits.
func (v *validator) policyRateLimits(base string, p *Policy) {
	names := map[string]int{}
	for i, rl := range p.RateLimits {
		path := fmt.Sprintf("%s.rate_limits[%d]", base, i)
		if rl == nil {
			v.errorf(path, "a rate limit needs key and rate")
			continue
		}
		v.keyParts(path+".key", rl.Key, len(p.Authenticate) > 0)
		if rl.Burst < 0 || rl.Burst > 1_000_000 {
			v.errorf(path+".burst", "burst %d must be between 1 and 1000000", rl.Burst)
		}
		if rl.Rate.N > 0 && rl.Rate.Interval() <= 0 {
			v.errorf(path+".rate", "rate %s is too fast to count: at most 1000000000/s", rl.Rate)
		}
		if rl.Name != "" && !sfKey.MatchString(rl.Name) {
			v.errorf(path+".name", "name %q must be lower case letters, digits, '_', '-', '.' or '*', starting with a letter (it appears in the RateLimit headers)", rl.Name)
		}
		name := rl.DisplayName()
		if j, dup := names[name]; dup {
			v.errorf(path+".name", "limit name %q is also used by rate_limits[%d]: give each limit its own name", name, j)
		}
		names[name] = i
	}
}

func (v *validator) state() {
	if st := v.cfg.State; st.Settings != nil {
		st.Settings.Validate(&Validation{v: v, Base: "state", Type: st.Driver})
	}
}

// policyCorrelate checks a policy's attack-pattern detectors.
func (v *validator) policyCorrelate(base string, p *Policy) {
	c := p.Correlate
	if c == nil {
		return
	}
	path := base + ".correlate"
	if c.CredentialStuffing == nil && c.Enumeration == nil {
		v.errorf(path, "correlate names no detector: add credential_stuffing: {} or enumeration: {}")
	}
	window := func(p string, d Duration) {
		if d != 0 && (d.D() < time.Second || d.D() > 24*time.Hour) {
			v.errorf(p, "window %s must be between 1s and 24h", d.D())
		}
	}
	counts := func(p, what string, n, distinct int64) {
		if n < 0 || distinct < 0 {
			v.errorf(p, "%s and distinct must be positive", what)
		}
		if distinct > 1000 {
			v.errorf(p+".distinct", "distinct %d is above 1000", distinct)
		}
		if n != 0 && distinct > n {
			v.errorf(p+".distinct", "distinct %d cannot exceed %s %d: each distinct one is at least one", distinct, what, n)
		}
	}
	if s := c.CredentialStuffing; s != nil {
		window(path+".credential_stuffing.window", s.Window)
		counts(path+".credential_stuffing", "failures", s.Failures, s.Distinct)
		if s.Key == "asn" && (v.cfg.GeoIP == nil || v.cfg.GeoIP.ASNDatabase == "") {
			v.errorf(path+".credential_stuffing.key", "key asn looks addresses up in an ASN database: add geoip: {asn_database: GeoLite2-ASN.mmdb}")
		}
		if len(p.Authenticate) == 0 {
			v.errorf(path+".credential_stuffing", "the policy authenticates nobody, so no request fails authentication here: put the detector on the policy of your login or API routes")
		}
	}
	if e := c.Enumeration; e != nil {
		window(path+".enumeration.window", e.Window)
		counts(path+".enumeration", "refusals", e.Refusals, e.Distinct)
	}
}
