// Package registry gathers the registries of Rampart's extension points
// (docs/extending.md): each type of authenticator, event sink, store
// driver, state driver and response transform is declared in its own
// package; main makes a Set and hands it to the gateway, validation,
// audit and the portal, none of which switches on a type.
package registry

import (
	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authn/builtin"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/respfilter"
	"github.com/rampart-gw/rampart/internal/siem"
	"github.com/rampart-gw/rampart/internal/store"
)

// Set is one registry per extension point.
type Set struct {
	// Authenticators is the registry of authenticator types.
	Authenticators *authn.Kinds
	// Sinks is the registry of event sink types.
	Sinks siem.SinkKinds
	// Stores is the registry of store drivers.
	Stores store.Drivers
	// StateDrivers is the registry of traffic state drivers.
	StateDrivers ratelimit.StateDrivers
	// ResponseTransforms is the registry of response transforms.
	ResponseTransforms respfilter.Transforms
}

// Builtin returns the registries of this build.
func Builtin() Set {
	var s Set
	s.Fill()
	return s
}

// Fill sets each nil registry of s to the built-in one.
func (s *Set) Fill() {
	if s.Authenticators == nil {
		s.Authenticators = builtin.Kinds()
	}
	if s.Sinks == nil {
		s.Sinks = siem.BuiltinSinks()
	}
	if s.Stores == nil {
		s.Stores = store.BuiltinDrivers()
	}
	if s.StateDrivers == nil {
		s.StateDrivers = ratelimit.BuiltinStateDrivers()
	}
	if s.ResponseTransforms == nil {
		s.ResponseTransforms = respfilter.BuiltinTransforms()
	}
}

// LoadOptions are the settings of s's types for loading a config, and
// the response transforms' check; the other checks are the gateway's
// (gateway.LoadOptions adds them).
func (s Set) LoadOptions(offline bool) config.LoadOptions {
	s.Fill()
	return config.LoadOptions{Offline: offline, Checks: []config.Check{s.ResponseTransforms.Check},
		Authenticators: s.Authenticators.Settings(), Sinks: s.Sinks.Settings(),
		Stores: s.Stores.Settings(), States: s.StateDrivers.Settings(),
		ResponseTransforms: s.ResponseTransforms.Settings()}
}
