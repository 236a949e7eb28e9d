package apikey

import (
	"fmt"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
)

// Settings are the keys of the api_key type.
type Settings struct {
	In string `yaml:"in" json:"in,omitempty" doc:"Where the key is: header:NAME, query:NAME or cookie:NAME. Default header:X-API-Key."`
}

// Defaults sets what the file left unset.
func (s *Settings) Defaults() {
	if s.In == "" {
		s.In = "header:X-API-Key"
	}
}

// Validate checks the settings, and that the config has a store to
// hold the keys.
func (s *Settings) Validate(at *config.Validation) {
	if s.In != "" {
		if _, _, err := ParseLocation(s.In); err != nil {
			at.Errorf("in", "%v", err)
		}
	}
	if at.Config().Store == nil {
		at.Errorf("", "an api_key authenticator needs a store: add store: {driver: embedded, path: data/rampart.db}")
	}
}

// ParseLocation splits where a key is presented: header:NAME, query:NAME
// or cookie:NAME.
func ParseLocation(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(s, ":")
	switch {
	case !ok || name == "":
		return "", "", fmt.Errorf("%q must be header:NAME, query:NAME or cookie:NAME", s)
	case kind == "header" && config.ValidHeaderName(name):
	case (kind == "query" || kind == "cookie") && !strings.ContainsAny(name, " ;=&"):
	default:
		return "", "", fmt.Errorf("%q must be header:NAME, query:NAME or cookie:NAME with a valid name", s)
	}
	return kind, name, nil
}
