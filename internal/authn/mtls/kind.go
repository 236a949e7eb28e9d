package mtls

import (
	"fmt"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
)

// Kind is the mtls authenticator type: the client certificate the TLS
// listener verified names the consumer.
func Kind() *authn.Kind {
	return &authn.Kind{
		Types: map[string]func() config.Settings{
			"mtls": func() config.Settings { return &Settings{} },
		},
		Doc: "authn-mtls.md",
		Build: func(env *authn.BuildEnv, name string, au *config.Authenticator) (authn.Authenticator, error) {
			a := au.Settings.(*Settings)
			crl := a.CRLFile
			if crl != "" {
				crl = env.Config.Path(crl)
			}
			m, err := New(name, a.ConsumerFrom, crl)
			if err != nil {
				return nil, env.Config.ErrorAt("authenticators."+name+".crl_file", err)
			}
			return m, nil
		},
		Describe: func(name string, a *config.Authenticator) string {
			return fmt.Sprintf("%s (client certificate, consumer from %s)", name, a.Settings.(*Settings).ConsumerFrom)
		},
		Credential: func(*config.Authenticator) (string, string) { return "certificate", "" },
	}
}
