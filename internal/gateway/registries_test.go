package gateway

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/registry"
)

// TestRegistriesMatchConfig: each registry the gateway opens things
// through serves exactly the values the config accepts for it, and
// docs/extending.md lists the same, and each type's keys have a doc string
// and are named on its page.
func TestRegistriesMatchConfig(t *testing.T) {
	doc, err := os.ReadFile("../../docs/extending.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := func(row string) []string {
		m := regexp.MustCompile("(?m)^\\| " + regexp.QuoteMeta(row) + " \\| ((?:`[a-z0-9_]+`(?:, )?)+) \\|$").FindStringSubmatch(string(doc))
		if m == nil {
			t.Fatalf("docs/extending.md has no row %q", row)
		}
		var out []string
		for _, c := range regexp.MustCompile("`([a-z0-9_]+)`").FindAllStringSubmatch(m[1], -1) {
			out = append(out, c[1])
		}
		slices.Sort(out)
		return out
	}
	accepted := LoadOptions(false, nil)
	reg := registry.Builtin()
	cases := []struct {
		name       string
		registered []string
		config     config.SettingsTypes
		doc        string // the row of docs/extending.md
		page       string // the page naming each type's keys
	}{
		{"event sinks", reg.Sinks.Types(), accepted.Sinks, "event sinks", "security-events.md"},
		{"store drivers", reg.Stores.Names(), accepted.Stores, "store drivers", "authn-api-keys.md"},
		{"state drivers", slices.Sorted(maps.Keys(reg.StateDrivers)), accepted.States, "state drivers", "rate-limits.md"},
		{"response transforms", slices.Sorted(slices.Values(reg.ResponseTransforms.Names())), accepted.ResponseTransforms, "response transforms", "data-protection.md"},
	}
	for _, c := range cases {
		if !slices.Equal(c.registered, c.config.Names()) {
			t.Errorf("%s: registered %v, the config accepts %v", c.name, c.registered, c.config.Names())
		}
		if d := documented(c.doc); !slices.Equal(d, c.registered) {
			t.Errorf("%s: docs/extending.md lists %v, registered %v", c.name, d, c.registered)
		}
		page, err := os.ReadFile("../../docs/" + c.page)
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range c.registered {
			for _, key := range config.Keys(c.config[typ]()) {
				if key.Doc == "" || !strings.Contains(string(page), "`"+key.Name+"`") && !strings.Contains(string(page), key.Name+":") {
					t.Errorf("%s %s: key %s needs a doc string and a mention in docs/%s", c.name, typ, key.Name, c.page)
				}
			}
		}
	}
}
