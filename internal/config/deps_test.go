package config

import (
	"os/exec"
	"strings"
	"testing"
)

// TestConfigIsData: the config package decodes and validates data and
// imports nothing of the runtime: besides the standard library, only
// the YAML decoder. What compiles a setting (patterns, CEL, keys, PEM
// files, OpenAPI documents) lives in the package that owns it, and
// reaches validation as a Check.
func TestConfigIsData(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{"go.yaml.in/yaml/v3": true, "github.com/rampart-gw/rampart/internal/config": true}
	for _, p := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(p, "/")
		if !strings.Contains(first, ".") || allowed[p] { // the standard library has no dot in its first element
			continue
		}
		t.Errorf("internal/config depends on %s", p)
	}
}
