package config

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"
)

// SignatureAlgorithms are the JWS algorithms a jwt or oidc authenticator
// may accept. none and the HMAC family are deliberately absent: a JWKS
// holds public keys, and accepting HS* with one is the RS/HS confusion.
var SignatureAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// authenticatorKeys lists, per type, the keys that apply to it; any other
// key set on an authenticator of that type is an error, so a misplaced
// setting is never silently ignored.
var authenticatorKeys = map[string][]string{
	"jwt":                  {"issuer", "jwks_uri", "audiences", "algorithms", "clock_skew", "consumer_claim", "max_token_bytes", "jwks_refresh", "jwks_stale_for", "cache_ttl", "timeout", "dpop_required", "require_low_s"},
	"oidc":                 {"issuer", "audiences", "algorithms", "clock_skew", "consumer_claim", "max_token_bytes", "jwks_refresh", "jwks_stale_for", "cache_ttl", "timeout", "dpop_required", "require_low_s"},
	"oauth2_introspection": {"endpoint", "client_id", "client_secret", "client_auth", "issuer", "audiences", "clock_skew", "consumer_claim", "max_token_bytes", "cache_ttl", "negative_cache_ttl", "timeout", "dpop_required"},
	"api_key":              {"in"},
	"mtls":                 {"consumer_from", "crl_file"},
}

func (v *validator) identity() {
	c := v.cfg
	for _, name := range sortedKeys(c.Authenticators) {
		v.authenticator(name, c.Authenticators[name])
	}
	seen := map[string]int{}
	for i, cn := range c.Consumers {
		base := fmt.Sprintf("consumers[%d]", i)
		if cn == nil {
			v.errorf(base, "empty consumer")
			continue
		}
		if cn.ID != "" && !ConsumerIDValid(cn.ID) {
			v.errorf(base+".id", "consumer id %q must be 1-128 letters, digits, '.', '_', '-', '@' or ':'", cn.ID)
		}
		if j, dup := seen[cn.ID]; dup {
			v.errorf(base+".id", "duplicate consumer id %q (also consumers[%d])", cn.ID, j)
		}
		seen[cn.ID] = i
	}
	if s := c.Store; s != nil {
		switch s.Driver {
		case "embedded":
			if s.Path == "" {
				v.errorf("store.path", "the embedded store needs path: the database file")
			}
			if s.DSN != nil {
				v.errorf("store.dsn", "dsn applies to the postgres driver only")
			}
		case "postgres":
			if s.DSN == nil {
				v.errorf("store", "the postgres store needs dsn: env:NAME or file:PATH holding the connection string")
			}
			if s.Path != "" {
				v.errorf("store.path", "path applies to the embedded driver only")
			}
		}
		if s.SyncInterval != 0 && (s.SyncInterval.D() < 100*time.Millisecond || s.SyncInterval.D() > 5*time.Minute) {
			v.errorf("store.sync_interval", "sync_interval %s must be between 100ms and 5m: it bounds how long a revoked key keeps working", s.SyncInterval.D())
		}
	}
	id := c.Identity
	if id.AssertionTTL != 0 && (id.AssertionTTL.D() < time.Second || id.AssertionTTL.D() > time.Hour) {
		v.errorf("identity.assertion_ttl", "assertion_ttl %s must be between 1s and 1h", id.AssertionTTL.D())
	}
	if ttl := max(id.AssertionTTL.D(), DefaultAssertionTTL); id.KeyRotation != 0 && id.KeyRotation.D() < 2*ttl {
		v.errorf("identity.key_rotation", "key_rotation %s must be at least twice assertion_ttl (%s), so a signed assertion's key stays published while it is valid", id.KeyRotation.D(), ttl)
	} else if id.KeyRotation != 0 && id.KeyRotation.D() < time.Minute {
		v.errorf("identity.key_rotation", "key_rotation %s is below 1m", id.KeyRotation.D())
	}
}

// ConsumerIDValid reports whether id may name a consumer.
func ConsumerIDValid(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@:", r)
		if !ok {
			return false
		}
	}
	return true
}

func (v *validator) authenticator(name string, a *Authenticator) {
	base := "authenticators." + name
	if !nameRE.MatchString(name) {
		v.keyErrorf(base, "authenticator name %q must be letters, digits, '.', '_' or '-'", name)
	}
	if a == nil {
		v.errorf(base, "empty authenticator: set type")
		return
	}
	allowed, ok := authenticatorKeys[a.Type]
	if !ok {
		return // the enum check reports the type
	}
	rv, rt := reflect.ValueOf(a).Elem(), reflect.TypeOf(a).Elem()
	for i := 0; i < rt.NumField(); i++ {
		key, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" || key == "type" || rv.Field(i).IsZero() || slices.Contains(allowed, key) {
			continue
		}
		v.keyErrorf(base+"."+key, "%s does not apply to type %s, whose keys are: %s", key, a.Type, strings.Join(allowed, ", "))
	}
	switch a.Type {
	case "jwt", "oidc":
		if a.Issuer == "" {
			v.errorf(base, "a %s authenticator needs issuer: the exact iss its tokens carry", a.Type)
		} else if a.Type == "oidc" {
			v.endpointURL(base+".issuer", a.Issuer)
		}
		if a.Type == "jwt" {
			if a.JWKSURI == "" {
				v.errorf(base, "a jwt authenticator needs jwks_uri: where the IdP publishes its signing keys")
			} else {
				v.endpointURL(base+".jwks_uri", a.JWKSURI)
			}
		}
		if len(a.Audiences) == 0 {
			v.errorf(base, "a %s authenticator needs audiences: without them a token minted for another service of the same issuer would be accepted", a.Type)
		}
		for i, aud := range a.Audiences {
			if aud == "" {
				v.errorf(fmt.Sprintf("%s.audiences[%d]", base, i), "empty audience")
			}
		}
		for i, alg := range a.Algorithms {
			if !slices.Contains(SignatureAlgorithms, alg) {
				hint := ""
				switch {
				case strings.EqualFold(alg, "none"):
					hint = ": unsigned tokens are never accepted"
				case strings.HasPrefix(strings.ToUpper(alg), "HS"):
					hint = ": HMAC would let anyone holding the public key forge tokens (RS/HS confusion)"
				}
				v.errorf(fmt.Sprintf("%s.algorithms[%d]", base, i), "algorithm %q is not accepted%s; use %s", alg, hint, strings.Join(SignatureAlgorithms, ", "))
			}
		}
		if a.JWKSRefresh != 0 && a.JWKSRefresh.D() < 10*time.Second {
			v.errorf(base+".jwks_refresh", "jwks_refresh %s is below 10s", a.JWKSRefresh.D())
		}
	case "oauth2_introspection":
		if a.Endpoint == "" {
			v.errorf(base, "an oauth2_introspection authenticator needs endpoint")
		} else {
			v.endpointURL(base+".endpoint", a.Endpoint)
		}
		if a.ClientID == "" || a.ClientSecret == nil {
			v.errorf(base, "an oauth2_introspection authenticator needs client_id and client_secret (env:NAME or file:PATH) to authenticate to the endpoint")
		}
		if a.NegativeCacheTTL.D() > 5*time.Minute {
			v.errorf(base+".negative_cache_ttl", "negative_cache_ttl %s is above 5m: a token the issuer has just activated would stay refused that long", a.NegativeCacheTTL.D())
		}
		if a.CacheTTL.D() > time.Hour {
			v.errorf(base+".cache_ttl", "cache_ttl %s is above 1h: a revoked token would keep working that long", a.CacheTTL.D())
		}
	case "api_key":
		if a.In != "" {
			if _, _, err := ParseKeyLocation(a.In); err != nil {
				v.errorf(base+".in", "%v", err)
			}
		}
		if v.cfg.Store == nil {
			v.errorf(base, "an api_key authenticator needs a store: add store: {driver: embedded, path: data/rampart.db}")
		}
	case "mtls":
		if t := v.cfg.Server.TLS; t == nil || t.ClientAuth.Mode == "" || t.ClientAuth.Mode == "none" {
			v.errorf(base, "an mtls authenticator needs server.tls.client_auth with mode request or require and a ca_file")
		}
		if v.fileReadable(base+".crl_file", a.CRLFile) {
			v.cfg.pem = append(v.cfg.pem, PEMFile{Path: base + ".crl_file", Kind: CRLFile, File: v.cfg.Path(a.CRLFile)})
		}
	}
	if a.ClockSkew.D() > 5*time.Minute {
		v.errorf(base+".clock_skew", "clock_skew %s is above 5m", a.ClockSkew.D())
	}
	if a.MaxTokenBytes != 0 && (a.MaxTokenBytes < 256 || a.MaxTokenBytes > 64<<10) {
		v.errorf(base+".max_token_bytes", "max_token_bytes %s must be between 256 and 64KiB", a.MaxTokenBytes)
	}
}

// endpointURL checks an IdP address: https, or http only to loopback.
func (v *validator) endpointURL(path, s string) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		v.errorf(path, "%q is not an absolute http(s) URL", s)
		return
	}
	if u.Scheme == "http" && !IsLoopback(u.Hostname()) {
		v.errorf(path, "%q uses http to another machine: keys and tokens must travel over https", s)
	}
}

// ParseKeyLocation splits an api_key location: header:NAME, query:NAME or
// cookie:NAME.
func ParseKeyLocation(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(s, ":")
	switch {
	case !ok || name == "":
		return "", "", fmt.Errorf("%q must be header:NAME, query:NAME or cookie:NAME", s)
	case kind == "header" && validHeaderName(name):
	case (kind == "query" || kind == "cookie") && !strings.ContainsAny(name, " ;=&"):
	default:
		return "", "", fmt.Errorf("%q must be header:NAME, query:NAME or cookie:NAME with a valid name", s)
	}
	return kind, name, nil
}

// policyAuthenticate checks a policy's authenticate list.
func (v *validator) policyAuthenticate(base string, p *Policy) {
	v.nameList(base+".authenticate", "authenticator", p.Authenticate, sortedKeys(v.cfg.Authenticators))
}

// nameList checks a list of names that refer to definitions: each must
// be defined (else a suggestion follows) and listed once.
func (v *validator) nameList(path, what string, names, defined []string) {
	seen := map[string]bool{}
	for i, name := range names {
		at := fmt.Sprintf("%s[%d]", path, i)
		if !slices.Contains(defined, name) {
			v.errorf(at, "unknown %s %q%s", what, name, suggest(name, defined))
		}
		if seen[name] {
			v.errorf(at, "%s %q is listed twice", what, name)
		}
		seen[name] = true
	}
}
