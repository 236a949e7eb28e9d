package config

import (
	"fmt"
	"strings"
)

// Bounds of a consumer record managed through the CLI or admin API.
const (
	maxConsumerRoles      = 64
	maxConsumerScopes     = 256
	maxConsumerAttributes = 64
	maxAttributeBytes     = 1024
)

// CheckConsumer checks a consumer record before it is stored: a valid
// id, roles this config defines (a role it does not define would never
// allow anything), scope words, and bounded attributes.
func (c *Config) CheckConsumer(id string, roles, scopes []string, attrs map[string]string) error {
	if !ConsumerIDValid(id) {
		return fmt.Errorf("consumer id %q must be 1-128 letters, digits, '.', '_', '-', '@' or ':'", id)
	}
	if len(roles) > maxConsumerRoles || len(scopes) > maxConsumerScopes || len(attrs) > maxConsumerAttributes {
		return fmt.Errorf("a consumer holds at most %d roles, %d scopes and %d attributes", maxConsumerRoles, maxConsumerScopes, maxConsumerAttributes)
	}
	for _, r := range roles {
		if c.Roles[r] == nil {
			return fmt.Errorf("role %q is not defined in the config%s", r, suggest(r, sortedKeys(c.Roles)))
		}
	}
	for _, s := range scopes {
		// A comma would split the scope in `rampart consumers --scopes`.
		if !scopeToken(s) || strings.Contains(s, ",") {
			return fmt.Errorf("scope %q must be one non-empty word", s)
		}
	}
	for k, v := range attrs {
		if k == "" || len(k) > 64 || len(v) > maxAttributeBytes || strings.ContainsAny(k, " \t\n\r") || strings.ContainsAny(v, "\n\r\x00") {
			return fmt.Errorf("attribute %q: names are 1-64 characters without spaces, values at most %d bytes on one line", k, maxAttributeBytes)
		}
	}
	return nil
}
