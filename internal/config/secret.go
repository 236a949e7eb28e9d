package config

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Secret is a value read from the environment (env:NAME) or a file
// (file:PATH), never written inline in the config. Its value is never
// printed: String and MarshalJSON show the reference only.
type Secret struct {
	Ref   string
	value string
}

func (s *Secret) decodeScalar(v string) error {
	switch {
	case strings.HasPrefix(v, "env:") && len(v) > len("env:"):
	case strings.HasPrefix(v, "file:") && len(v) > len("file:"):
	default:
		return fmt.Errorf("secrets must be given as env:NAME or file:PATH, never inline")
	}
	s.Ref = v
	return nil
}

// resolve reads the secret's value. baseDir resolves relative file paths.
// Errors name the variable or file, never a value.
func (s *Secret) resolve(baseDir string, lookupEnv func(string) (string, bool)) error {
	if name, ok := strings.CutPrefix(s.Ref, "env:"); ok {
		v, ok := lookupEnv(name)
		if !ok || v == "" {
			return fmt.Errorf("environment variable %s is not set", name)
		}
		s.value = v
		return nil
	}
	path := resolvePath(baseDir, strings.TrimPrefix(s.Ref, "file:"))
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read secret file %s: %v", path, errorsWithoutPath(err))
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return fmt.Errorf("secret file %s is empty", path)
	}
	s.value = v
	return nil
}

// Value returns the resolved secret. Empty when the secret is unset.
func (s *Secret) Value() string {
	if s == nil {
		return ""
	}
	return s.value
}

// Resolved reports whether the secret's value was read: false when it is
// unset, and for every secret of a config loaded offline.
func (s *Secret) Resolved() bool { return s != nil && s.value != "" }

// IsSet reports whether a reference was configured.
func (s *Secret) IsSet() bool { return s != nil && s.Ref != "" }

func (s Secret) String() string { return s.Ref }

// MarshalJSON shows the reference, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.Ref) }

func errorsWithoutPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
