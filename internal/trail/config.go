package trail

import (
	"crypto"
	"fmt"

	"github.com/rampart-gw/rampart/internal/config"
)

// SigningKey returns the signing key of the config's trail: its
// signing_key, or the key in a token token_key names, through token.
func SigningKey(cfg *config.Config, token func(uri string) (crypto.Signer, error)) (crypto.Signer, error) {
	if cfg.Trail == nil {
		return nil, fmt.Errorf("no trail is configured")
	}
	if uri := cfg.Trail.TokenKey; uri != "" {
		k, err := token(uri)
		if err != nil {
			return nil, err
		}
		if err := checkKey(k.Public()); err != nil {
			return nil, err
		}
		return k, nil
	}
	return ParsePrivateKey(cfg.Trail.SigningKey.Value())
}

// Check checks that the trail's signing key is an Ed25519 key
// (config.Check). A secret that was not read (offline) is not checked.
func Check(cfg *config.Config) config.Errors {
	t := cfg.Trail
	if t == nil || !t.SigningKey.IsSet() || t.SigningKey.Value() == "" {
		return nil
	}
	if _, err := ParsePrivateKey(t.SigningKey.Value()); err != nil {
		return config.Errors{cfg.FieldError("trail.signing_key", fmt.Errorf("%s: %v", t.SigningKey.Ref, err))}
	}
	return nil
}
