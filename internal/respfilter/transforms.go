package respfilter

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/pii"
)

// A Transform is one kind of change stage 17 makes to response bodies,
// declared here: its keys in a policy's response section (its settings,
// with their defaults and rules), what only compiling them finds, what
// it adds to the stage's one pass over a body, and how it describes
// itself. The gateway builds the stage through the registry and
// switches on no transform.
type Transform struct {
	// Name is its name in the registry, its first key.
	Name string
	// Settings returns its empty settings (config.Settings).
	Settings func() config.Settings
	// Check reports what only compiling finds (field patterns, detector
	// names), at paths under base: policies.NAME.response.
	Check func(cfg *config.Config, base string, s config.Settings) config.Errors
	// Plan adds what it does to the stage's options.
	Plan func(env *Env, s config.Settings, o *Options) error
	// Describe says what it does, for `rampart validate --explain`.
	Describe func(s config.Settings) string
}

// Env is what planning a transform may use of the gateway.
type Env struct {
	Config *config.Config
	// Detector returns the detector called name: built in, or one of
	// the config's detectors.
	Detector func(name string) (*pii.Detector, error)
	// Keyset returns the keyset called name.
	Keyset func(name string) (Opener, error)
}

// Transforms is the registry of response transforms, in the order
// explain lists them.
type Transforms []*Transform

// BuiltinTransforms returns the transforms of this build: remove_fields,
// mask and decrypt_fields.
func BuiltinTransforms() Transforms {
	return Transforms{removeFields, mask, decryptFields}
}

// Settings are the transforms' settings, for loading a config
// (config.LoadOptions.ResponseTransforms).
func (t Transforms) Settings() config.SettingsTypes {
	types := config.SettingsTypes{}
	for _, tr := range t {
		types[tr.Name] = tr.Settings
	}
	return types
}

// Names lists the transforms, in order.
func (t Transforms) Names() []string {
	var out []string
	for _, tr := range t {
		out = append(out, tr.Name)
	}
	return out
}

// Check is the transforms' config.Check: it runs each policy's
// transforms' checks.
func (t Transforms) Check(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		p := cfg.Policies[name]
		if p == nil || p.Response == nil {
			continue
		}
		for _, tr := range t {
			if s, ok := p.Response.Transforms[tr.Name]; ok && tr.Check != nil {
				errs = append(errs, tr.Check(cfg, "policies."+name+".response", s)...)
			}
		}
	}
	return errs
}

// New builds the stage of a policy's response section: the options
// every transform it sets has added to, and o's own (Policy, counters).
func (t Transforms) New(env *Env, rc *config.Response, o Options) (*Stage, error) {
	o.Limit, o.PassOversize = int64(rc.MaxBodyBytes), rc.OnOversize == "pass"
	for _, tr := range t {
		if s, ok := rc.Transforms[tr.Name]; ok {
			if err := tr.Plan(env, s, &o); err != nil {
				return nil, err
			}
		}
	}
	return New(o), nil
}

// Describe lists what rc's transforms do, in the registry's order.
func (t Transforms) Describe(rc *config.Response) []string {
	var out []string
	for _, tr := range t {
		if s, ok := rc.Transforms[tr.Name]; ok {
			out = append(out, tr.Describe(s))
		}
	}
	return out
}

// RemoveSettings are the keys of remove_fields.
type RemoveSettings struct {
	RemoveFields []string `yaml:"remove_fields" json:"remove_fields,omitempty" doc:"JSON fields left out of responses, as field patterns: user.ssn, items[*].internal_cost, **.password."`
}

// Defaults sets what the file left unset: nothing.
func (s *RemoveSettings) Defaults() {}

// Validate checks the settings' data: the patterns are compiled by Check.
func (s *RemoveSettings) Validate(*config.Validation) {}

var removeFields = &Transform{
	Name:     "remove_fields",
	Settings: func() config.Settings { return &RemoveSettings{} },
	Check: func(cfg *config.Config, base string, s config.Settings) config.Errors {
		return fieldpath.Check(cfg, base+".remove_fields", s.(*RemoveSettings).RemoveFields)
	},
	Plan: func(_ *Env, s config.Settings, o *Options) error {
		set, err := fieldpath.Compile(s.(*RemoveSettings).RemoveFields)
		o.Remove = set
		return err
	},
	Describe: func(s config.Settings) string {
		return "fields removed: " + strings.Join(s.(*RemoveSettings).RemoveFields, ", ")
	},
}

// MaskSettings are the keys of mask.
type MaskSettings struct {
	Mask []string `yaml:"mask" json:"mask,omitempty" doc:"Detectors whose values are masked in JSON and text responses: email, card, phone, iban, us_ssn, ip, jwt, bearer, or a name under detectors."`
}

// Defaults sets what the file left unset: nothing.
func (s *MaskSettings) Defaults() {}

// Validate checks the settings' data: the detectors are found by Check.
func (s *MaskSettings) Validate(*config.Validation) {}

var mask = &Transform{
	Name:     "mask",
	Settings: func() config.Settings { return &MaskSettings{} },
	Check: func(cfg *config.Config, base string, s config.Settings) config.Errors {
		var errs config.Errors
		for i, name := range s.(*MaskSettings).Mask {
			if _, custom := cfg.Detectors[name]; custom {
				continue // compiled where detectors are checked
			}
			if _, ok := pii.Lookup(name); !ok {
				errs = append(errs, cfg.FieldError(fmt.Sprintf("%s.mask[%d]", base, i),
					fmt.Errorf("unknown detector %q: use one of %s, or define it under detectors", name, strings.Join(pii.Builtin, ", "))))
			}
		}
		return errs
	},
	Plan: func(env *Env, s config.Settings, o *Options) error {
		names := s.(*MaskSettings).Mask
		ds := make([]*pii.Detector, len(names))
		for i, name := range names {
			d, err := env.Detector(name)
			if err != nil {
				return err
			}
			ds[i] = d
		}
		o.Mask = pii.NewSet(ds...)
		return nil
	},
	Describe: func(s config.Settings) string {
		return "values masked: " + strings.Join(s.(*MaskSettings).Mask, ", ")
	},
}

// DecryptSettings are the keys of decrypt_fields.
type DecryptSettings struct {
	DecryptFields []string `yaml:"decrypt_fields" json:"decrypt_fields,omitempty" doc:"JSON fields, encrypted by request.encrypt_fields, decrypted in responses for consumers holding a role in decrypt_for; everyone else gets the ciphertext."`
	DecryptFor    []string `yaml:"decrypt_for" json:"decrypt_for,omitempty" doc:"Roles whose consumers see decrypt_fields decrypted."`
	Keyset        string   `yaml:"keyset" json:"keyset,omitempty" doc:"The keyset decrypt_fields were encrypted with."`
}

// Defaults sets what the file left unset: nothing.
func (s *DecryptSettings) Defaults() {}

// Validate checks the settings: a keyset, roles that exist, and fields
// to go with them.
func (s *DecryptSettings) Validate(at *config.Validation) {
	if len(s.DecryptFields) == 0 {
		at.Errorf("decrypt_fields", "keyset and decrypt_for go with decrypt_fields, which lists none")
		return
	}
	at.KeysetRef("keyset", s.Keyset)
	if len(s.DecryptFor) == 0 {
		at.Errorf("decrypt_for", "decrypt_fields needs decrypt_for: the roles whose consumers may read the fields decrypted")
	}
	for i, role := range s.DecryptFor {
		if _, ok := at.Config().Roles[role]; !ok {
			at.Errorf(fmt.Sprintf("decrypt_for[%d]", i), "unknown role %q: define it under roles", role)
		}
	}
}

var decryptFields = &Transform{
	Name:     "decrypt_fields",
	Settings: func() config.Settings { return &DecryptSettings{} },
	Check: func(cfg *config.Config, base string, s config.Settings) config.Errors {
		return fieldpath.Check(cfg, base+".decrypt_fields", s.(*DecryptSettings).DecryptFields)
	},
	Plan: func(env *Env, s config.Settings, o *Options) error {
		ds := s.(*DecryptSettings)
		set, err := fieldpath.Compile(ds.DecryptFields)
		if err != nil {
			return err
		}
		ks, err := env.Keyset(ds.Keyset)
		if err != nil {
			return err
		}
		o.Decrypt, o.Keys, o.DecryptFor = set, ks, slices.Clone(ds.DecryptFor)
		return nil
	},
	Describe: func(s config.Settings) string {
		ds := s.(*DecryptSettings)
		return fmt.Sprintf("fields decrypted for roles %s: %s", strings.Join(ds.DecryptFor, ", "), strings.Join(ds.DecryptFields, ", "))
	},
}
