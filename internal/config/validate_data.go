package config

import (
	"crypto/ed25519"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/rampart-gw/rampart/internal/fieldcrypt"
	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/pii"
	"github.com/rampart-gw/rampart/internal/trail"
)

// MaxResponseFilterBytes bounds response.max_body_bytes: a filtered
// response is held whole in memory.
const MaxResponseFilterBytes = 64 << 20

// detectors checks the operator's own detectors.
func (v *validator) detectors() {
	for _, name := range sortedKeys(v.cfg.Detectors) {
		d, path := v.cfg.Detectors[name], "detectors."+name
		switch {
		case slices.Contains(pii.Builtin, name):
			v.keyErrorf(path, "%q is a built-in detector; give yours another name", name)
			continue
		case !nameRE.MatchString(name):
			v.keyErrorf(path, "detector name %q must be letters, digits, '.', '_' or '-'", name)
		}
		if d == nil {
			continue
		}
		if _, err := pii.Custom(name, d.Pattern, d.KeepFirst, d.KeepLast); err != nil {
			v.errorf(path+".pattern", "%v", err)
		}
	}
}

// Detector returns the detector called name: a built-in one, or the
// config's own.
func (c *Config) Detector(name string) (*pii.Detector, error) {
	if d, ok := pii.Lookup(name); ok {
		return d, nil
	}
	if d, ok := c.Detectors[name]; ok && d != nil {
		return pii.Custom(name, d.Pattern, d.KeepFirst, d.KeepLast)
	}
	return nil, fmt.Errorf("no detector %q", name)
}

func (v *validator) policyResponse(base string, p *Policy) {
	r := p.Response
	if r == nil {
		return
	}
	path := base + ".response"
	v.fieldPatterns(path+".remove_fields", r.RemoveFields)
	for i, name := range r.Mask {
		if _, custom := v.cfg.Detectors[name]; custom {
			continue // checked under detectors
		}
		if _, err := v.cfg.Detector(name); err != nil {
			v.errorf(fmt.Sprintf("%s.mask[%d]", path, i), "unknown detector %q: use one of %s, or define it under detectors", name, strings.Join(pii.Builtin, ", "))
		}
	}
	if len(r.RemoveFields) == 0 && len(r.Mask) == 0 && len(r.DecryptFields) == 0 {
		v.errorf(path, "response filters nothing: list remove_fields, mask or decrypt_fields")
	}
	if len(r.DecryptFields) > 0 {
		v.fieldPatterns(path+".decrypt_fields", r.DecryptFields)
		v.keysetRef(path+".keyset", r.Keyset)
		if len(r.DecryptFor) == 0 {
			v.errorf(path+".decrypt_for", "decrypt_fields needs decrypt_for: the roles whose consumers may read the fields decrypted")
		}
		for i, role := range r.DecryptFor {
			if _, ok := v.cfg.Roles[role]; !ok {
				v.errorf(fmt.Sprintf("%s.decrypt_for[%d]", path, i), "unknown role %q: define it under roles", role)
			}
		}
	} else if r.Keyset != "" || len(r.DecryptFor) > 0 {
		v.errorf(path+".decrypt_fields", "keyset and decrypt_for go with decrypt_fields, which lists none")
	}
	if r.MaxBodyBytes > MaxResponseFilterBytes {
		v.errorf(path+".max_body_bytes", "%s is above the most a filter holds (64MiB)", r.MaxBodyBytes)
	}
}

// fieldPatterns checks a list of field patterns, each, then together.
func (v *validator) fieldPatterns(path string, patterns []string) {
	ok := true
	for i, f := range patterns {
		if _, err := fieldpath.Compile([]string{f}); err != nil {
			v.errorf(fmt.Sprintf("%s[%d]", path, i), "%v", err)
			ok = false
		}
	}
	if _, err := fieldpath.Compile(patterns); ok && err != nil {
		v.errorf(path, "%v", err)
	}
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
	v.fieldPatterns(path+".encrypt_fields", p.Request.EncryptFields)
	v.keysetRef(path+".keyset", p.Request.Keyset)
}

// keysets checks every keyset: unique ids, the primary among them, and
// each key 32 bytes of base64.
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
			if k.Secret.IsSet() && k.Secret.Value() != "" {
				if _, err := fieldcrypt.DecodeKey(k.Secret.Value()); err != nil {
					v.errorf(kp+".secret", "%s: %v", k.Secret.Ref, err)
				}
			}
		}
		if ks.Primary != "" && !seen[ks.Primary] {
			v.errorf(path+".primary", "the primary key %q is not among keys", ks.Primary)
		}
	}
}

// FieldKeyset builds the keyset called name (validated).
func (c *Config) FieldKeyset(name string) (*fieldcrypt.Keyset, error) {
	ks, ok := c.Keysets[name]
	if !ok || ks == nil {
		return nil, fmt.Errorf("no keyset %q", name)
	}
	keys := make(map[string][]byte, len(ks.Keys))
	for _, k := range ks.Keys {
		b, err := fieldcrypt.DecodeKey(k.Secret.Value())
		if err != nil {
			return nil, fmt.Errorf("keyset %s, key %s: %v", name, k.ID, err)
		}
		keys[k.ID] = b
	}
	return fieldcrypt.NewKeyset(name, ks.Primary, keys)
}

// trail checks the audit trail: it lives in the store, and its key must
// be an Ed25519 key.
func (v *validator) trail() {
	t := v.cfg.Trail
	if t == nil {
		return
	}
	if v.cfg.Store == nil {
		v.errorf("trail", "the trail is kept in the store: add store: {driver: embedded, path: data/rampart.db} (or postgres for several gateways)")
	}
	if t.SigningKey.IsSet() && t.SigningKey.Value() != "" {
		if _, err := trail.ParsePrivateKey(t.SigningKey.Value()); err != nil {
			v.errorf("trail.signing_key", "%s: %v", t.SigningKey.Ref, err)
		}
	}
	if t.CheckpointEvery < 0 {
		v.errorf("trail.checkpoint_every", "checkpoint_every cannot be negative")
	}
}

// TrailKey returns the trail's signing key (validated).
func (c *Config) TrailKey() (ed25519.PrivateKey, error) {
	return trail.ParsePrivateKey(c.Trail.SigningKey.Value())
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
