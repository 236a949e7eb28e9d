package apikey

import (
	"fmt"
	"strings"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
)

// Kind is the api_key authenticator type: keys issued by Rampart, kept
// hashed in the store, presented in a header, query parameter or cookie.
func Kind() *authn.Kind {
	return &authn.Kind{
		Types: map[string]func() config.Settings{
			"api_key": func() config.Settings { return &Settings{} },
		},
		Doc: "authn-api-keys.md",
		Build: func(env *authn.BuildEnv, name string, a *config.Authenticator) (authn.Authenticator, error) {
			kind, from, err := ParseLocation(a.Settings.(*Settings).In)
			if err != nil {
				return nil, env.Config.ErrorAt("authenticators."+name+".in", err)
			}
			return New(name, kind, from, env.Keys, env.Hasher), nil
		},
		Describe: func(name string, a *config.Authenticator) string {
			return fmt.Sprintf("%s (API key in %s)", name, a.Settings.(*Settings).In)
		},
		Credential: func(a *config.Authenticator) (string, string) {
			in := a.Settings.(*Settings).In
			if in == "" {
				in = "header:X-API-Key"
			}
			kind, name, _ := strings.Cut(in, ":")
			return kind, name
		},
		Weaknesses: func(base string, a *config.Authenticator) []authn.Weakness {
			if !strings.HasPrefix(a.Settings.(*Settings).In, "query:") {
				return nil
			}
			return []authn.Weakness{{Path: base + ".in", Severity: "medium", ID: "api-key-in-query",
				Detail: "API keys in the query string end up in proxy, browser and server logs; take them from a header"}}
		},
	}
}
