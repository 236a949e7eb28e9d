package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/pii"
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
	for i, f := range r.RemoveFields {
		if _, err := fieldpath.Compile([]string{f}); err != nil {
			v.errorf(fmt.Sprintf("%s.remove_fields[%d]", path, i), "%v", err)
		}
	}
	if _, err := fieldpath.Compile(r.RemoveFields); err != nil && len(r.RemoveFields) > 1 {
		v.errorf(path+".remove_fields", "%v", err)
	}
	for i, name := range r.Mask {
		if _, err := v.cfg.Detector(name); err != nil {
			v.errorf(fmt.Sprintf("%s.mask[%d]", path, i), "unknown detector %q: use one of %s, or define it under detectors", name, strings.Join(pii.Builtin, ", "))
		}
	}
	if len(r.RemoveFields) == 0 && len(r.Mask) == 0 {
		v.errorf(path, "response filters nothing: list remove_fields, mask, or both")
	}
	if r.MaxBodyBytes > MaxResponseFilterBytes {
		v.errorf(path+".max_body_bytes", "%s is above the most a filter holds (64MiB)", r.MaxBodyBytes)
	}
}
