package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxResponseFilterBytes bounds response.max_body_bytes: a filtered
// response is held whole in memory.
const MaxResponseFilterBytes = 64 << 20

// detectors checks the names of the operator's own detectors; their
// patterns, and that they do not take a built-in detector's name, are
// checked where detectors are built.
func (v *validator) detectors() {
	for _, name := range sortedKeys(v.cfg.Detectors) {
		if !nameRE.MatchString(name) {
			v.keyErrorf("detectors."+name, "detector name %q must be letters, digits, '.', '_' or '-'", name)
		}
	}
}

func (v *validator) policyResponse(base string, p *Policy) {
	r := p.Response
	if r == nil {
		return
	}
	path := base + ".response"
	if len(r.Transforms) == 0 {
		var first []string
		for _, name := range v.transforms.Names() {
			first = append(first, structFields(v.transforms.structOf(name)).names[0])
		}
		v.errorf(path, "response filters nothing: list %s", orList(first))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Transforms)) {
		r.Transforms[name].Validate(&Validation{v: v, Base: path, Type: name})
	}
	if r.MaxBodyBytes > MaxResponseFilterBytes {
		v.errorf(path+".max_body_bytes", "%s is above the most a filter holds (64MiB)", r.MaxBodyBytes)
	}
}

// KeysetRef checks that key names a keyset.
func (at *Validation) KeysetRef(key, name string) { at.v.keysetRef(at.path(key), name) }

// orList is "a", "a or b", "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func (v *validator) keysetRef(path, name string) {
	if name == "" {
		v.errorf(path, "name the keyset (under keysets) the fields are encrypted with")
	} else if _, ok := v.cfg.Keysets[name]; !ok {
		v.errorf(path, "unknown keyset %q: define it under keysets", name)
	}
}

func (v *validator) policyRequest(base string, p *Policy) {
	if p.Request == nil {
		return
	}
	path := base + ".request"
	if len(p.Request.EncryptFields) == 0 {
		v.errorf(path+".encrypt_fields", "encrypt_fields lists no field")
	}
	v.keysetRef(path+".keyset", p.Request.Keyset)
}

// keysets checks every keyset: unique ids and the primary among them.
// That each key decodes is checked where keysets are built.
func (v *validator) keysets() {
	for _, name := range sortedKeys(v.cfg.Keysets) {
		ks, path := v.cfg.Keysets[name], "keysets."+name
		if !nameRE.MatchString(name) {
			v.keyErrorf(path, "keyset name %q must be letters, digits, '.', '_' or '-'", name)
		}
		if ks == nil {
			continue
		}
		seen := map[string]bool{}
		for i, k := range ks.Keys {
			kp := fmt.Sprintf("%s.keys[%d]", path, i)
			switch {
			case k.ID == "" || !nameRE.MatchString(k.ID):
				v.errorf(kp+".id", "key id %q must be letters, digits, '.', '_' or '-'", k.ID)
			case seen[k.ID]:
				v.errorf(kp+".id", "key id %q is used twice", k.ID)
			}
			seen[k.ID] = true
			switch {
			case k.Secret.IsSet() == (k.TokenKey != ""):
				v.errorf(kp, "a key is a secret (32 random bytes in base64, as env:NAME or file:PATH) or a token_key (a pkcs11: URI): give one")
			case k.TokenKey != "" && !strings.HasPrefix(k.TokenKey, "pkcs11:"):
				v.errorf(kp+".token_key", "token_key names a key in a token: pkcs11:token=LABEL;object=LABEL")
			case k.TokenKey != "" && v.cfg.PKCS11 == nil:
				v.errorf(kp+".token_key", "a pkcs11: key needs the pkcs11 section: {module: /path/to/module.so, pin: env:NAME}")
			}
		}
		if ks.Primary != "" && !seen[ks.Primary] {
			v.errorf(path+".primary", "the primary key %q is not among keys", ks.Primary)
		}
	}
}

// trail checks the audit trail: it lives in the store. That its key is
// an Ed25519 key is checked by the trail (trail.Check).
// accessReview checks the review's thresholds: automatic revocation
// needs a store, and a threshold no typo can make a mass revocation.
func (v *validator) accessReview() {
	a := v.cfg.AccessReview
	if a == nil {
		return
	}
	if a.RevokeUnusedKeys {
		if v.cfg.Store == nil {
			v.errorf("access_review.revoke_unused_keys", "keys live in the store: add store: {driver: embedded, path: data/rampart.db}")
		}
		if a.UnusedAfter != 0 && a.UnusedAfter.D() < 7*24*time.Hour {
			v.errorf("access_review.unused_after", "with revoke_unused_keys, unused_after %s would revoke keys in use every week or less: give at least 7d", a.UnusedAfter.D())
		}
	}
}

// baselines checks the routes' baseline settings.
func (v *validator) baselines() {
	b := v.cfg.Baselines
	if b == nil {
		return
	}
	if b.Interval != 0 && (b.Interval.D() < time.Second || b.Interval.D() > time.Hour) {
		v.errorf("baselines.interval", "interval %s must be between 1s and 1h", b.Interval.D())
	}
	if b.Tolerance != 0 && (b.Tolerance < 2 || b.Tolerance > 20) {
		v.errorf("baselines.tolerance", "tolerance %g must be between 2 and 20 standard deviations", b.Tolerance)
	}
	if b.MinRequests < 0 {
		v.errorf("baselines.min_requests", "min_requests cannot be negative")
	}
}

func (v *validator) trail() {
	t := v.cfg.Trail
	if t == nil {
		return
	}
	if v.cfg.Store == nil {
		v.errorf("trail", "the trail is kept in the store: add store: {driver: embedded, path: data/rampart.db} (or postgres for several gateways)")
	}
	if t.CheckpointEvery < 0 {
		v.errorf("trail.checkpoint_every", "checkpoint_every cannot be negative")
	}
	switch {
	case t.SigningKey.IsSet() && t.TokenKey != "":
		v.errorf("trail", "give signing_key or token_key, not both")
	case !t.SigningKey.IsSet() && t.TokenKey == "":
		v.errorf("trail", "the trail's checkpoints are signed: give signing_key (an Ed25519 key, as env:NAME or file:PATH) or token_key (a pkcs11: URI)")
	case t.TokenKey != "" && !strings.HasPrefix(t.TokenKey, "pkcs11:"):
		v.errorf("trail.token_key", "token_key names a key in a token: pkcs11:token=LABEL;object=LABEL")
	case t.TokenKey != "" && v.cfg.PKCS11 == nil:
		v.errorf("trail.token_key", "a pkcs11: key needs the pkcs11 section: {module: /path/to/module.so, pin: env:NAME}")
	}
}

// TrailSeverity is the trail's min_severity on the 1-4 scale.
func (c *Config) TrailSeverity() int {
	switch c.Trail.MinSeverity {
	case "info":
		return 1
	case "low":
		return 2
	case "high":
		return 4
	}
	return 3
}

func (v *validator) tracing() {
	t := v.cfg.Tracing
	if t == nil {
		return
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		v.errorf("tracing.sample_ratio", "sample_ratio %v is not between 0 and 1", t.SampleRatio)
	}
	switch t.Exporter {
	case "otlp_grpc":
		if _, _, err := net.SplitHostPort(t.Endpoint); err != nil {
			v.errorf("tracing.endpoint", "%q is not host:port (otlp_grpc)", t.Endpoint)
		}
	case "otlp_http":
		if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf("tracing.endpoint", "%q is not an http(s) URL (otlp_http)", t.Endpoint)
		} else if t.Insecure {
			v.errorf("tracing.insecure", "insecure applies to otlp_grpc; for otlp_http the URL's scheme says")
		}
	}
}
