package authn

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/store"
)

// A Kind is one type of authenticator, declared in its own package
// (jwt.Kind, introspect.Kind, apikey.Kind, mtls.Kind). Everything the
// rest of Rampart does with a type goes through its Kind: the gateway
// builds authenticators with Build, `rampart validate --explain` and the
// portal describe them with Describe and Credential, `rampart audit`
// asks Weaknesses. Nothing else switches on the type. Main makes the
// registry (builtin.Kinds) and hands it to those that need it.
type Kind struct {
	// Types are the values of authenticators.*.type the kind serves,
	// each with its settings: a struct of the keys beside type, with
	// their defaults and rules (config.Settings).
	Types map[string]func() config.Settings
	// Doc is its page under docs/.
	Doc string
	// Build makes the authenticator called name for a snapshot.
	Build func(env *BuildEnv, name string, a *config.Authenticator) (Authenticator, error)
	// Describe says in a few words what it checks, for explain.
	Describe func(name string, a *config.Authenticator) string
	// Credential says how a client presents one: kind is bearer, header,
	// query, cookie or certificate; name the header, parameter or cookie.
	Credential func(a *config.Authenticator) (kind, name string)
	// Weaknesses lists what `rampart audit` should say of its settings;
	// nil when it has nothing to say. base is authenticators.NAME.
	Weaknesses func(base string, a *config.Authenticator) []Weakness
}

// A Weakness is one audit finding about an authenticator's settings.
type Weakness struct {
	Path     string // the setting at fault
	Severity string // info, low, medium or high
	ID       string // a stable name, such as long-token-cache
	Detail   string
}

// BuildEnv is what building an authenticator may use of the gateway.
type BuildEnv struct {
	Config *config.Config
	Log    *slog.Logger
	// Proofs checks DPoP proofs; its jti memory outlives reloads.
	Proofs ProofChecker
	// Keys and Hasher are the store's key directory and key hasher; nil
	// and zero without a store.
	Keys interface {
		Key(id string) (store.Key, bool)
		MarkUsed(id string, t time.Time)
	}
	Hasher store.Hasher
	// CountFetch counts an identity provider call by result.
	CountFetch func(authenticator, result string)
	// Share returns the resource open makes, keyed by name and key (all
	// it is built from): one made for a previous snapshot with the same
	// key is shared, not made again, and close runs when the last
	// snapshot using it is released.
	Share func(name string, key any, open func() (any, error), close func(any)) (any, error)
}

// Acquire is BuildEnv.Share for a resource of type T.
func Acquire[T any](env *BuildEnv, name string, key any, open func() (T, error), close func(T)) (T, error) {
	v, err := env.Share(name, key, func() (any, error) { return open() }, func(v any) { close(v.(T)) })
	if err != nil {
		var zero T
		return zero, err
	}
	return v.(T), nil
}

// Kinds is the registry of authenticator types.
type Kinds struct {
	list   []*Kind
	byType map[string]*Kind
}

// NewKinds registers kinds; two serving one type is an error.
func NewKinds(kinds ...*Kind) (*Kinds, error) {
	k := &Kinds{byType: map[string]*Kind{}}
	for _, kd := range kinds {
		for _, t := range slices.Sorted(maps.Keys(kd.Types)) {
			if k.byType[t] != nil {
				return nil, fmt.Errorf("authenticator type %s is registered twice", t)
			}
			k.byType[t] = kd
		}
		k.list = append(k.list, kd)
	}
	return k, nil
}

// Lookup returns the kind serving type t.
func (k *Kinds) Lookup(t string) (*Kind, bool) {
	kd, ok := k.byType[t]
	return kd, ok
}

// Types lists the registered types, sorted.
func (k *Kinds) Types() []string { return slices.Sorted(maps.Keys(k.byType)) }

// Settings are the types' settings, for loading a config
// (config.LoadOptions.Authenticators).
func (k *Kinds) Settings() config.SettingsTypes {
	t := config.SettingsTypes{}
	for _, kd := range k.list {
		maps.Copy(t, kd.Types)
	}
	return t
}

// Describe is the kind's Describe for a, or name alone for a type not
// registered.
func (k *Kinds) Describe(name string, a *config.Authenticator) string {
	if a == nil {
		return name
	}
	if kd, ok := k.byType[a.Type]; ok && kd.Describe != nil {
		return kd.Describe(name, a)
	}
	return name
}
