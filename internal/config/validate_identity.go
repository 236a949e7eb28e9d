package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

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
		if s.Settings != nil {
			s.Settings.Validate(&Validation{v: v, Base: "store", Type: s.Driver})
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
	if a.Settings != nil {
		a.Settings.Validate(&Validation{v: v, Base: base, Type: a.Type})
	}
}

// Validation is what a type's settings report their problems through
// (Settings.Validate): the union's place in the file (an authenticator,
// an event sink, the store, the state), its type, and the config
// around it.
type Validation struct {
	v    *validator
	Base string // authenticators.NAME, events.sinks[I], store, state
	Type string // its type
}

// Config is the config being validated.
func (at *Validation) Config() *Config { return at.v.cfg }

func (at *Validation) path(key string) string {
	if key == "" {
		return at.Base
	}
	return at.Base + "." + key
}

// Errorf reports a problem with the value of key, such as "issuer" or
// "audiences[1]"; an empty key reports it at the union (Base).
func (at *Validation) Errorf(key, format string, args ...any) {
	at.v.errorf(at.path(key), format, args...)
}

// Endpoint checks an identity provider's address at key: an absolute
// https URL, or http to loopback only.
func (at *Validation) Endpoint(key, s string) { at.v.endpointURL(at.path(key), s) }

// PEMFile checks that the file at key can be read and lists it for the
// check of what it holds (see Config.PEMFiles).
func (at *Validation) PEMFile(key, file string, kind PEMKind) {
	path := at.path(key)
	if at.v.fileReadable(path, file) {
		at.v.cfg.pem = append(at.v.cfg.pem, PEMFile{Path: path, Kind: kind, File: at.v.cfg.Path(file)})
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
