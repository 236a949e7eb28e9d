// Package builtin lists the authenticator types this build of Rampart
// has: the registry main hands to the gateway, the audit and the portal.
// A new type adds its Kind here, and nowhere else outside its package.
package builtin

import (
	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/authn/apikey"
	"github.com/rampart-gw/rampart/internal/authn/introspect"
	"github.com/rampart-gw/rampart/internal/authn/jwt"
	"github.com/rampart-gw/rampart/internal/authn/mtls"
)

// Kinds returns a new registry of the built-in authenticator types.
func Kinds() *authn.Kinds {
	k, err := authn.NewKinds(jwt.Kind(), introspect.Kind(), apikey.Kind(), mtls.Kind())
	if err != nil {
		panic(err) // the built-in list serves each type once; a test holds it to that
	}
	return k
}
