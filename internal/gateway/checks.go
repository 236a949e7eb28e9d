package gateway

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/rampart-gw/rampart/internal/authz"
	"github.com/rampart-gw/rampart/internal/bodyguard"
	"github.com/rampart-gw/rampart/internal/bots"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/fieldcrypt"
	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/graphqlop"
	"github.com/rampart-gw/rampart/internal/grpcguard"
	"github.com/rampart-gw/rampart/internal/hsm"
	"github.com/rampart-gw/rampart/internal/pii"
	"github.com/rampart-gw/rampart/internal/pki"
	"github.com/rampart-gw/rampart/internal/registry"
	"github.com/rampart-gw/rampart/internal/route"
	"github.com/rampart-gw/rampart/internal/schema"
	"github.com/rampart-gw/rampart/internal/soapop"
	"github.com/rampart-gw/rampart/internal/trail"
	"github.com/rampart-gw/rampart/internal/transcode"
	"github.com/rampart-gw/rampart/internal/transform"
)

// Checks are the checks of what the packages building a snapshot
// compile (config.Check): validation runs them, so that one run reports
// every problem with its position. Building a snapshot compiles the same
// values and refuses what would fail here.
func Checks() []config.Check {
	return []config.Check{route.Check, grpcguard.Check, authz.Check, bots.Check, schema.Check, trail.Check, checkPEMFiles, checkDetectors, checkFieldPaths, checkKeysets, transform.Check, transcode.Check, graphqlop.Check, soapop.Check, bodyguard.CheckPersisted}
}

// LoadOptions are the options of a load by main or a reload: the
// settings of the types the registries of o serve (nil, or a nil
// registry: the built-in types), their checks and Checks.
func LoadOptions(offline bool, o *Options) config.LoadOptions {
	var r registry.Set
	if o != nil {
		r = o.Set
	}
	lo := r.LoadOptions(offline)
	lo.Checks = append(Checks(), lo.Checks...)
	return lo
}

// Load loads the config at path as `rampart run` does, with the built-in
// authenticator types.
func Load(path string, offline bool) (*config.Config, error) {
	return config.LoadWith(path, LoadOptions(offline, nil))
}

// checkPEMFiles reads every certificate, key, CA bundle and CRL as the
// gateway loads them.
func checkPEMFiles(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, f := range cfg.PEMFiles() {
		var err error
		switch f.Kind {
		case config.KeyPairFile:
			if hsm.IsURI(f.KeyFile) { // the token is not opened by a check: the URI and the chain are read
				if _, err = hsm.ParseURI(f.KeyFile); err == nil {
					_, _, err = certChain(f.File)
				}
				break
			}
			_, err = pki.KeyPair(f.File, f.KeyFile)
		case config.CABundleFile:
			_, err = pki.CertPool(f.File)
		case config.CRLFile:
			_, err = pki.ReadCRL(f.File)
		}
		if err != nil {
			errs = append(errs, cfg.FieldError(f.Path, err))
		}
	}
	return errs
}

// detector returns the detector called name: a built-in one, or the
// config's own.
func detector(cfg *config.Config, name string) (*pii.Detector, error) {
	if d, ok := pii.Lookup(name); ok {
		return d, nil
	}
	if d, ok := cfg.Detectors[name]; ok && d != nil {
		return pii.Custom(name, d.Pattern, d.KeepFirst, d.KeepLast)
	}
	return nil, fmt.Errorf("no detector %q", name)
}

// checkDetectors compiles the config's own detectors, which may not take
// a built-in one's name (that every detector a response masks with
// exists is the mask transform's check).
func checkDetectors(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(cfg.Detectors)) {
		d, path := cfg.Detectors[name], "detectors."+name
		if slices.Contains(pii.Builtin, name) {
			errs = append(errs, cfg.KeyError(path, fmt.Errorf("%q is a built-in detector; give yours another name", name)))
			continue
		}
		if d == nil {
			continue
		}
		if _, err := pii.Custom(name, d.Pattern, d.KeepFirst, d.KeepLast); err != nil {
			errs = append(errs, cfg.FieldError(path+".pattern", err))
		}
	}
	return errs
}

// checkFieldPaths compiles every request's encrypt_fields (a response's
// field patterns are checked by its transforms: respfilter.Transforms).
func checkFieldPaths(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		if p := cfg.Policies[name]; p != nil && p.Request != nil {
			errs = append(errs, fieldpath.Check(cfg, "policies."+name+".request.encrypt_fields", p.Request.EncryptFields)...)
		}
	}
	return errs
}

// fieldKeyset builds the keyset called name: keys from secrets, and
// keys in a token through tokens.
func fieldKeyset(cfg *config.Config, name string, tokens func(uri string) (cipher.AEAD, error)) (*fieldcrypt.Keyset, error) {
	ks, ok := cfg.Keysets[name]
	if !ok || ks == nil {
		return nil, fmt.Errorf("no keyset %q", name)
	}
	keys := make(map[string]cipher.AEAD, len(ks.Keys))
	for _, k := range ks.Keys {
		a, err := keysetKey(k, tokens)
		if err != nil {
			return nil, fmt.Errorf("keyset %s, key %s: %v", name, k.ID, err)
		}
		keys[k.ID] = a
	}
	return fieldcrypt.NewKeysetAEAD(name, ks.Primary, keys)
}

// keysetKey is one key of a keyset: in a token, or from its secret.
func keysetKey(k config.KeysetKey, tokens func(uri string) (cipher.AEAD, error)) (cipher.AEAD, error) {
	if k.TokenKey != "" {
		return tokens(k.TokenKey)
	}
	b, err := fieldcrypt.DecodeKey(k.Secret.Value())
	if err != nil {
		return nil, err
	}
	return fieldcrypt.AESKey(b)
}

// tokenAEAD is the AES key a pkcs11: URI names, in the configured module.
func (g *Gateway) tokenAEAD(uri string) (cipher.AEAD, error) {
	if g.hsm == nil {
		return nil, errors.New("a pkcs11: key needs the pkcs11 section")
	}
	return g.hsm.AEAD(uri)
}

// checkKeysets checks that every key of every keyset decodes: 32 bytes
// of base64. A secret that was not read (offline) is not checked.
func checkKeysets(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(cfg.Keysets)) {
		ks := cfg.Keysets[name]
		if ks == nil {
			continue
		}
		for i, k := range ks.Keys {
			if k.Secret == nil || !k.Secret.IsSet() || k.Secret.Value() == "" {
				continue
			}
			if _, err := fieldcrypt.DecodeKey(k.Secret.Value()); err != nil {
				errs = append(errs, cfg.FieldError(fmt.Sprintf("keysets.%s.keys[%d].secret", name, i), fmt.Errorf("%s: %v", k.Secret.Ref, err)))
			}
		}
	}
	return errs
}
