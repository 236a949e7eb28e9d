package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and validates the config file at path. On failure
// the error is an Errors listing every problem with its position.
func Load(path string) (*Config, error) { return LoadWith(path, LoadOptions{}) }

// LoadOptions change what loading reads besides the file.
type LoadOptions struct {
	// Offline checks the config without what a deployment provides:
	// environment variables, secret files and the files named in it
	// (certificates, keys, CRLs, databases) are checked when present and
	// listed in Config.Unchecked when not, instead of failing. For CI of
	// a config repository; a config loaded offline is not for running.
	Offline bool
	// Checks run after the data is validated, over the same config, and
	// add their errors to validation's: each checks what only the package
	// that compiles it can (see Check).
	Checks []Check
	// Authenticators, Sinks, Stores and States are the authenticator,
	// event sink, store driver and state driver types the config may
	// use, with their settings; one of another type is an error.
	Authenticators, Sinks, Stores, States SettingsTypes
	// ResponseTransforms are the transforms a policy's response section
	// may set, with their settings.
	ResponseTransforms SettingsTypes
}

// A Check validates the values that only the package compiling them can
// read: path patterns against each other, a CEL condition, a PEM file,
// an OpenAPI document. This package holds data and its rules only; each
// package that builds something from the config offers its Check, and
// main passes them all (gateway.Checks) so that one validation reports
// every problem with its position. Building a snapshot compiles the same
// values again and refuses, with the same errors, what a load without
// the checks let by.
//
// A Check runs on a config that may have failed validation elsewhere: it
// skips what is missing (nil entries, empty values) rather than assume.
type Check func(*Config) Errors

// LoadWith is Load with options.
func LoadWith(path string, o LoadOptions) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{{Pos: Pos{File: path, Line: 1, Col: 1}, Msg: fmt.Sprintf("cannot read config: %v", errorsWithoutPath(err))}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, Errors{{Pos: Pos{File: path, Line: 1, Col: 1}, Msg: fmt.Sprintf("cannot read config: %v", err)}}
	}
	return ParseWith(path, data, os.LookupEnv, o)
}

// Parse decodes and validates data as the config file named file. Secrets
// are looked up with lookupEnv and, for file: secrets, on disk relative to
// the file's directory.
func Parse(file string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return ParseWith(file, data, lookupEnv, LoadOptions{})
}

// ParseWith is Parse with options.
func ParseWith(file string, data []byte, lookupEnv func(string) (string, bool), o LoadOptions) (*Config, error) {
	cfg, d := parse(file, data, o)
	cfg.BaseDir = filepath.Dir(file)
	cfg.secrets = d.secrets
	if d.unreadable {
		return nil, d.errs
	}
	for _, s := range d.secrets {
		if o.Offline {
			cfg.Unchecked = append(cfg.Unchecked, s.Path+": secret "+s.Secret.Ref)
			continue
		}
		if f, ok := strings.CutPrefix(s.Secret.Ref, "file:"); ok {
			cfg.files = append(cfg.files, cfg.Path(f))
		}
		if err := s.Secret.resolve(cfg.BaseDir, lookupEnv); err != nil {
			d.errs = append(d.errs, &FieldError{Pos: cfg.Pos(s.Path), Path: s.Path, Msg: err.Error()})
		}
	}
	// Validate what did decode too, so one run shows every error; a path
	// that already failed to decode is not reported twice.
	failed := map[string]bool{}
	for _, e := range d.errs {
		failed[e.Path] = true
	}
	cfg.Offline = o.Offline
	v := &validator{cfg: cfg, offline: o.Offline, transforms: o.ResponseTransforms}
	v.validate()
	for _, check := range o.Checks {
		v.errs = append(v.errs, check(cfg)...)
	}
	for _, e := range v.errs {
		if !failed[e.Path] {
			d.errs = append(d.errs, e)
		}
	}
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	if len(cfg.Events.Sinks) == 0 {
		decodeDefault(o, DefaultSinks, &cfg.Events.Sinks, "events.sinks")
	}
	if cfg.State.Settings == nil {
		decodeDefault(o, "{}", &cfg.State, "state")
	}
	applyDefaults(cfg)
	return cfg, nil
}

// Pos returns the position of the value at path, or of its nearest
// ancestor present in the file.
func (c *Config) Pos(path string) Pos {
	for {
		if p, ok := c.positions[path]; ok {
			return p
		}
		i := max(lastIndexAny(path, ".["), 0)
		if path == "" {
			return Pos{File: c.File, Line: 1, Col: 1}
		}
		path = path[:i]
	}
}

// ExprPos returns the file position of line:col (1-based) of the text of
// the string at path: where an error inside an expression is.
func (c *Config) ExprPos(path string, line, col int) Pos {
	p := c.Pos(path)
	l := c.scalars[path]
	switch {
	case l.style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		p.Line += line
		p.Col = l.indent + col
	case line > 1:
		p.Line += line - 1
		p.Col = col
	case l.style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		p.Col += col // past the quote
	default:
		p.Col += col - 1
	}
	return p
}

// KeyPos returns the position of the key of the value at path, falling
// back to Pos.
func (c *Config) KeyPos(path string) Pos {
	if p, ok := c.positions[path+"#key"]; ok {
		return p
	}
	return c.Pos(path)
}

func lastIndexAny(s, chars string) int {
	for i := len(s) - 1; i >= 0; i-- {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return i
			}
		}
	}
	return -1
}

// Files lists the files the config reads besides itself: certificates,
// keys, CA bundles, CRLs, secret files, OpenAPI documents, the country
// database. A change to any of them changes what a reload builds, so the
// gateway watches them all.
func (c *Config) Files() []string {
	out := slices.Clone(c.files)
	slices.Sort(out)
	return slices.Compact(out)
}

// Path resolves p relative to the config file's directory.
func (c *Config) Path(p string) string { return resolvePath(c.BaseDir, p) }

// ErrorAt places err at the value at path, for errors found after
// validation, when the config is compiled (a certificate that does not
// match its key, a CRL that does not parse): the reload status and the
// log show FILE:LINE:COL like validation errors do.
func (c *Config) ErrorAt(path string, err error) error {
	if err == nil {
		return nil
	}
	return Errors{c.FieldError(path, err)}
}

// FieldError is err at the value at path.
func (c *Config) FieldError(path string, err error) *FieldError {
	return &FieldError{Pos: c.Pos(path), Path: path, Msg: err.Error()}
}

// KeyError is err at the key of the value at path (a map key that is
// at fault: a name already taken).
func (c *Config) KeyError(path string, err error) *FieldError {
	return &FieldError{Pos: c.KeyPos(path), Path: path, Msg: err.Error()}
}

// Secrets lists the secrets the config names, in the order of the file.
func (c *Config) Secrets() []SecretAt { return c.secrets }

// DefaultSinks is the events section of a config that names no sink.
const DefaultSinks = "[{type: jsonl, path: stderr}]"

// decodeDefault decodes the YAML text def into v, with the types of o,
// as if the file held it at path; v is left as it is when they lack a
// type def needs.
func decodeDefault(o LoadOptions, def string, v any, path string) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(def), &n); err != nil {
		panic(err)
	}
	d := newDecoder("", nil, o)
	target := reflect.New(reflect.TypeOf(v).Elem())
	d.decode(n.Content[0], target.Elem(), path)
	if len(d.errs) == 0 {
		reflect.ValueOf(v).Elem().Set(target.Elem())
	}
}

// registries are the types of unions by the registry their types tags
// name.
func (o LoadOptions) registries() map[string]SettingsTypes {
	return map[string]SettingsTypes{"authenticators": o.Authenticators, "sinks": o.Sinks, "stores": o.Stores, "states": o.States,
		"response_transforms": o.ResponseTransforms}
}
