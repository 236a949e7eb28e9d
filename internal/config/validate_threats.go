package config

import (
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// policyCORS checks a policy's CORS: origins are scheme://host[:port]
// with at most a leading *. label, and credentials never go with a
// wildcard (browsers refuse it, and it would hand every site the
// user's session).
func (v *validator) policyCORS(base string, p *Policy) {
	c := p.CORS
	if c == nil {
		return
	}
	path := base + ".cors"
	if len(c.AllowOrigins) == 0 {
		v.errorf(path+".allow_origins", "allow_origins lists no origin: name the sites whose pages may call this API, e.g. [\"https://app.example.com\"]")
	}
	for i, o := range c.AllowOrigins {
		op := fmt.Sprintf("%s.allow_origins[%d]", path, i)
		if o == "*" {
			if c.AllowCredentials {
				v.errorf(op, "origin * with allow_credentials would let every site on the web act as the signed-in user; list the origins")
			}
			continue
		}
		if msg := originProblem(o); msg != "" {
			v.errorf(op, "%q %s", o, msg)
		}
	}
	for i, m := range c.AllowMethods {
		if !KnownMethod(m) {
			v.errorf(fmt.Sprintf("%s.allow_methods[%d]", path, i), "unknown method %q: use upper-case GET, HEAD, POST, PUT, PATCH or DELETE", m)
		}
	}
	for i, h := range c.AllowHeaders {
		switch {
		case h == "*" && c.AllowCredentials:
			v.errorf(fmt.Sprintf("%s.allow_headers[%d]", path, i), "allow_headers * cannot go with allow_credentials (browsers ignore it); list the headers")
		case h != "*" && !ValidHeaderName(h):
			v.errorf(fmt.Sprintf("%s.allow_headers[%d]", path, i), "%q is not a header name", h)
		}
	}
	for i, h := range c.ExposeHeaders {
		if !ValidHeaderName(h) {
			v.errorf(fmt.Sprintf("%s.expose_headers[%d]", path, i), "%q is not a header name", h)
		}
	}
	if c.MaxAge.D() > 24*time.Hour {
		v.errorf(path+".max_age", "max_age %s is above 24h", c.MaxAge.D())
	}
}

// originProblem says what is wrong with an origin or origin pattern.
func originProblem(o string) string {
	u, err := url.Parse(strings.Replace(o, "://*.", "://wildcard.", 1))
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return "is not an origin such as https://app.example.com"
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "is not an origin: an origin is scheme://host[:port], with no path, not even a trailing /"
	case strings.Count(o, "*") > 1 || (strings.Contains(o, "*") && !strings.Contains(o, "://*.")):
		return "has a wildcard other than a leading *. label (https://*.example.com)"
	case strings.Contains(o, "://*.") && strings.Count(u.Hostname(), ".") < 2:
		return "would match subdomains of a public suffix; name a registrable domain, e.g. https://*.example.com"
	case strings.ToLower(o) != o:
		return "must be lower case, as browsers send it"
	}
	return ""
}

// policyIP checks a policy's address and country rules.
func (v *validator) policyIP(base string, p *Policy) {
	if ip := p.IP; ip != nil {
		for key, list := range map[string][]string{"allow": ip.Allow, "deny": ip.Deny} {
			for i, c := range list {
				if _, err := ParsePrefix(c); err != nil {
					v.errorf(fmt.Sprintf("%s.ip.%s[%d]", base, key, i), "%v", err)
				}
			}
		}
		if len(ip.Allow) == 0 && len(ip.Deny) == 0 {
			v.errorf(base+".ip", "ip lists no address: give allow or deny")
		}
	}
	g := p.Geo
	if g == nil {
		return
	}
	if v.cfg.GeoIP == nil || v.cfg.GeoIP.Database == "" {
		v.errorf(base+".geo", "geo rules need a country database: add geoip: {database: GeoLite2-Country.mmdb}")
	}
	switch {
	case len(g.Allow) > 0 && len(g.Deny) > 0:
		v.errorf(base+".geo", "give allow or deny, not both: with an allow list every other country is denied already")
	case len(g.Allow) == 0 && len(g.Deny) == 0:
		v.errorf(base+".geo", "geo lists no country: give allow or deny")
	}
	for key, list := range map[string][]string{"allow": g.Allow, "deny": g.Deny} {
		for i, c := range list {
			if len(c) != 2 || strings.ToUpper(c) != c || strings.Trim(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				v.errorf(fmt.Sprintf("%s.geo.%s[%d]", base, key, i), "%q is not an ISO 3166-1 alpha-2 country code such as FR", c)
			}
		}
	}
}

// geoip checks the country and ASN databases can be read.
func (v *validator) geoip() {
	g := v.cfg.GeoIP
	if g == nil {
		return
	}
	if g.Database == "" && g.ASNDatabase == "" {
		v.errorf("geoip", "geoip names no database: give database (countries) or asn_database (autonomous systems)")
	}
	if g.Database != "" {
		v.fileReadable("geoip.database", g.Database)
	}
	if g.ASNDatabase != "" {
		v.fileReadable("geoip.asn_database", g.ASNDatabase)
	}
}

// responseHeaders checks the strip list and policies' security headers.
func (v *validator) responseHeaders() {
	for i, h := range v.cfg.Server.StripResponseHeaders {
		if !ValidHeaderName(h) {
			v.errorf(fmt.Sprintf("server.strip_response_headers[%d]", i), "%q is not a header name", h)
		}
	}
}

func (v *validator) policySecurityHeaders(base string, p *Policy) {
	sh := p.SecurityHeaders
	if sh == nil {
		return
	}
	for key, val := range map[string]string{"content_security_policy": sh.ContentSecurityPolicy, "permissions_policy": sh.PermissionsPolicy} {
		if strings.ContainsAny(val, "\r\n\x00") || len(val) > 4096 {
			v.errorf(base+".security_headers."+key, "the value must be one line of at most 4096 characters")
		}
	}
}

// policyValidate checks a policy's body rules.
func (v *validator) policyValidate(base string, p *Policy) {
	val := p.Validate
	if val == nil {
		return
	}
	for i, ct := range val.ContentTypes {
		if mt, params, err := mime.ParseMediaType(ct); err != nil || len(params) > 0 || mt != ct || !strings.Contains(ct, "/") {
			v.errorf(fmt.Sprintf("%s.validate.content_types[%d]", base, i), "%q is not a lower-case media type such as application/json", ct)
		}
	}
	if val.OpenAPI != "" {
		v.present(base+".validate.openapi", val.OpenAPI) // read and checked by schema.Check
	} else if val.Strict {
		v.errorf(base+".validate.strict", "strict refuses operations the OpenAPI document does not describe; give validate.openapi")
	}
	if val.Responses == "detect" && val.OpenAPI == "" {
		v.errorf(base+".validate.responses", "responses are checked against the OpenAPI document; give validate.openapi")
	}
	if j := val.JSON; j != nil {
		for key, n := range map[string]int{"max_depth": j.MaxDepth, "max_keys": j.MaxKeys, "max_array": j.MaxArray} {
			if n < 0 || n > 1_000_000 {
				v.errorf(base+".validate.json."+key, "%s %d must be between 1 and 1000000", key, n)
			}
		}
		if j.MaxDepth > 10000 {
			v.errorf(base+".validate.json.max_depth", "max_depth %d is above 10000, the deepest JSON the parser reads", j.MaxDepth)
		}
	}
	if g := val.GraphQL; g != nil {
		for key, n := range map[string]int{"max_depth": g.MaxDepth, "max_aliases": g.MaxAliases, "max_fields": g.MaxFields,
			"max_cost": g.MaxCost, "max_batch": g.MaxBatch, "max_tokens": g.MaxTokens, "max_directives": g.MaxDirectives} {
			if n < 0 || n > 1_000_000 {
				v.errorf(base+".validate.graphql."+key, "%s %d must be between 1 and 1000000", key, n)
			}
		}
		if p := g.Persisted; p != nil {
			// its documents are read and checked by bodyguard.Check
			v.fileReadable(base+".validate.graphql.persisted.manifest", p.Manifest)
		}
	}
	if x := val.XML; x != nil {
		for key, n := range map[string]int{"max_depth": x.MaxDepth, "max_elements": x.MaxElements, "max_attributes": x.MaxAttributes} {
			if n < 0 || n > 1_000_000 {
				v.errorf(base+".validate.xml."+key, "%s %d must be between 1 and 1000000", key, n)
			}
		}
	}
}

// wafTarget is a CRS exclusion target: a collection, optionally :key.
var wafTarget = regexp.MustCompile(`^[A-Z_]+(:[A-Za-z0-9_.\-\[\]/]+)?$`)

// policyWAF checks a policy's WAF settings.
func (v *validator) policyWAF(base string, p *Policy) {
	w := p.WAF
	if w == nil {
		return
	}
	if w.Paranoia < 0 || w.Paranoia > 4 {
		v.errorf(base+".waf.paranoia", "paranoia %d must be 1, 2, 3 or 4", w.Paranoia)
	}
	if w.InboundThreshold < 0 || w.InboundThreshold > 1000 {
		v.errorf(base+".waf.inbound_threshold", "inbound_threshold %d must be between 1 and 1000", w.InboundThreshold)
	}
	if w.ResponseBodyLimit < 0 || w.ResponseBodyLimit > 16<<20 {
		v.errorf(base+".waf.response_body_limit", "response_body_limit %s must be between 1 byte and 16MiB: each held response is kept in memory until inspected", w.ResponseBodyLimit)
	}
	for i, e := range w.Exclusions {
		ep := fmt.Sprintf("%s.waf.exclusions[%d]", base, i)
		if e == nil {
			continue
		}
		if e.Rule < 900000 || e.Rule > 999999 {
			v.errorf(ep+".rule", "rule %d is not a CRS rule id (900000-999999)", e.Rule)
		}
		if e.Target != "" && !wafTarget.MatchString(e.Target) {
			v.errorf(ep+".target", "%q is not a target such as ARGS:json.comment or REQUEST_COOKIES:prefs", e.Target)
		}
	}
	if msg := wafRulesProblem(w.RulesBefore, wafDirectivesBefore); msg != "" {
		v.errorf(base+".waf.rules_before", "%s", msg)
	}
	if msg := wafRulesProblem(w.Rules, wafDirectives); msg != "" {
		v.errorf(base+".waf.rules", "%s", msg)
	}
}

// wafDirectives are the directives waf.rules may use: rules and their
// tuning, never engine settings or includes (which read files).
var wafDirectives = []string{"SecRule ", "SecAction ", "SecMarker ", "SecRuleRemoveById ", "SecRuleRemoveByTag ", "SecRuleUpdateTargetById ", "SecRuleUpdateTargetByTag "}

// directiveNames lists directives for a message.
func directiveNames(ds []string) string {
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = strings.TrimSpace(d)
	}
	return strings.Join(names, ", ")
}

// wafDirectivesBefore are the directives waf.rules_before may use: the
// CRS's rules are not defined yet where they run, so SecRuleRemoveBy* and
// SecRuleUpdateTargetBy* belong in waf.rules (or ctl: actions here).
var wafDirectivesBefore = wafDirectives[:3]

var wafRuleID = regexp.MustCompile(`\bid:\s*'?(\d+)`)

// wafRulesProblem explains what is wrong with an operator's rules, or
// returns "". Coraza compiles them when the config is applied.
func wafRulesProblem(rules string, allowed []string) string {
	lines := strings.Split(strings.ReplaceAll(rules, "\\\n", " "), "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		if !slices.ContainsFunc(allowed, func(d string) bool { return strings.HasPrefix(l, d) }) {
			if len(allowed) < len(wafDirectives) && slices.ContainsFunc(wafDirectives, func(d string) bool { return strings.HasPrefix(l, d) }) {
				return fmt.Sprintf("directive %d (%.40q) changes CRS rules, which are not defined yet before the CRS: put it in waf.rules, or use a ctl:ruleRemoveById action here", i+1, l)
			}
			return fmt.Sprintf("directive %d (%.40q) is not one of %s", i+1, l, directiveNames(allowed))
		}
		for _, m := range wafRuleID.FindAllStringSubmatch(l, -1) {
			if id, _ := strconv.Atoi(m[1]); id <= 0 || id >= 900000 {
				return fmt.Sprintf("rule id %s is in the range the CRS reserves (900000-999999) or not positive; use 1-899999", m[1])
			}
		}
	}
	return ""
}

// threatIntel checks the feeds: one source each, HTTPS for downloads
// (a feed read in clear could be rewritten on the way to list anyone),
// sane bounds.
func (v *validator) threatIntel() {
	ti := v.cfg.ThreatIntel
	if ti == nil {
		return
	}
	if len(ti.Feeds) == 0 {
		v.errorf("threat_intel.feeds", "threat_intel lists no feed: name one, e.g. spamhaus-drop: {url: https://www.spamhaus.org/drop/drop_v4.json, format: spamhaus_drop}")
	}
	bouncerKeys := map[string]string{} // URL and key: the feed using them
	for _, name := range sortedKeys(ti.Feeds) {
		f := ti.Feeds[name]
		path := "threat_intel.feeds." + name
		if !nameRE.MatchString(name) {
			v.keyErrorf(path, "feed name %q must be letters, digits, '.', '_' or '-'", name)
		}
		if f == nil {
			v.errorf(path, "a feed needs url or file")
			continue
		}
		sources := 0
		for _, set := range []bool{f.URL != "", f.File != "", f.CrowdSec != nil} {
			if set {
				sources++
			}
		}
		switch {
		case sources == 0:
			v.errorf(path, "a feed needs url, file or crowdsec")
		case sources > 1:
			v.errorf(path, "give one of url, file and crowdsec")
		case f.CrowdSec != nil:
			v.crowdSecFeed(path, f, bouncerKeys)
		case f.URL != "":
			u, err := url.Parse(f.URL)
			switch {
			case err != nil || u.Host == "":
				v.errorf(path+".url", "%q is not a URL", f.URL)
			case u.Scheme != "https":
				v.errorf(path+".url", "feeds are downloaded over https only: a list fetched in clear can be rewritten on the way to refuse anyone")
			case u.User != nil:
				v.errorf(path+".url", "put credentials in headers (as secrets), not in the URL")
			}
		default:
			v.dataReadable(path+".file", f.File) // the feed re-reads it: no config reload on a change
		}
		if f.CAFile != "" {
			if f.File != "" {
				v.errorf(path+".ca_file", "ca_file verifies a download: this feed is a file")
			}
			v.fileReadable(path+".ca_file", f.CAFile)
		}
		if len(f.Headers) > 0 && f.URL == "" {
			v.errorf(path+".headers", "headers go with a download: this feed is not one")
		}
		for h := range f.Headers {
			if !ValidHeaderName(h) {
				v.keyErrorf(path+".headers."+h, "%q is not a header name", h)
			}
		}
		for i, c := range f.Exclude {
			if _, err := ParsePrefix(c); err != nil {
				v.errorf(fmt.Sprintf("%s.exclude[%d]", path, i), "%v", err)
			}
		}
		if f.Refresh != 0 && f.Refresh.D() < time.Second {
			v.errorf(path+".refresh", "refresh %s is under 1s", f.Refresh.D())
		}
		if f.Timeout.D() < 0 {
			v.errorf(path+".timeout", "timeout must be positive")
		}
		if f.MaxBytes < 0 || f.MaxBytes > 1<<30 {
			v.errorf(path+".max_bytes", "max_bytes %s must be between 1 byte and 1GiB", f.MaxBytes)
		}
		if f.MaxEntries < 0 || f.MaxEntries > 50_000_000 {
			v.errorf(path+".max_entries", "max_entries %d must be between 1 and 50000000", f.MaxEntries)
		}
	}
}

// crowdSecFeed checks a CrowdSec feed: the Local API's URL (the key
// travels in clear only on loopback) and a bouncer key no other feed
// uses, since the Local API sends a key only what changed since its own
// last pull, and two feeds sharing one would each miss the other's part.
func (v *validator) crowdSecFeed(path string, f *ThreatFeed, keys map[string]string) {
	cs := f.CrowdSec
	path += ".crowdsec"
	if f.Format != "" {
		v.errorf(path, "a crowdsec feed has no format: the Local API answers in its own")
	}
	u, err := url.Parse(cs.URL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		v.errorf(path+".url", "%q is not the Local API's URL, e.g. http://127.0.0.1:8080", cs.URL)
	case u.User != nil:
		v.errorf(path+".url", "the bouncer key goes in api_key, not in the URL")
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		v.errorf(path+".url", "the bouncer key would travel in clear to %s: use https (the Local API's api.server.tls), or http on loopback only", u.Host)
	}
	if k := cs.URL + "\x00" + cs.APIKey.Value(); cs.APIKey.Value() != "" {
		if other, ok := keys[k]; ok {
			v.errorf(path+".api_key", "the feed %s already pulls %s with this key: the Local API sends a key only what changed since its last pull, so each feed needs a key of its own (cscli bouncers add NAME)", other, cs.URL)
		}
		keys[k] = strings.TrimPrefix(strings.TrimSuffix(path, ".crowdsec"), "threat_intel.feeds.")
	}
	for field, list := range map[string][]string{"decision_types": cs.DecisionTypes, "origins": cs.Origins,
		"scenarios_containing": cs.ScenariosContaining, "scenarios_not_containing": cs.ScenariosNotContaining} {
		for i, s := range list {
			if s == "" || strings.ContainsAny(s, ",&=?#") || strings.TrimSpace(s) != s {
				v.errorf(fmt.Sprintf("%s.%s[%d]", path, field, i), "%q is not a word the Local API filters on", s)
			}
		}
	}
}

// policyThreatIntel checks a policy's threat_intel rules: known feeds,
// and the challenge they ask for configured.
func (v *validator) policyThreatIntel(base string, p *Policy) {
	for i, r := range p.ThreatIntel {
		path := fmt.Sprintf("%s.threat_intel[%d]", base, i)
		if r == nil {
			v.errorf(path, "a rule needs feeds and action")
			continue
		}
		if len(r.Feeds) == 0 {
			v.errorf(path+".feeds", "the rule names no feed")
		}
		var feeds []string
		if v.cfg.ThreatIntel != nil {
			feeds = sortedKeys(v.cfg.ThreatIntel.Feeds)
		}
		for j, f := range r.Feeds {
			if !slices.Contains(feeds, f) {
				v.errorf(fmt.Sprintf("%s.feeds[%d]", path, j), "unknown feed %q%s: feeds are defined under threat_intel.feeds", f, suggest(f, feeds))
			}
		}
		if r.Action == "challenge" && (p.Bots == nil || p.Bots.Challenge == nil) {
			v.errorf(path+".action", "action challenge serves the bots challenge, so the policy needs bots: {challenge: {secret: env:NAME}}")
		}
	}
}
