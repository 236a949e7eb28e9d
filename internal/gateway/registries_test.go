package gateway

import (
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/siem"
	"github.com/rampart-gw/rampart/internal/store"
)

// TestRegistriesMatchConfig: each registry the gateway opens things
// through serves exactly the values the config accepts for it, and
// docs/extending.md lists the same.
func TestRegistriesMatchConfig(t *testing.T) {
	enum := func(v any, field string) []string {
		f, ok := reflect.TypeOf(v).FieldByName(field)
		if !ok {
			t.Fatalf("%T has no field %s", v, field)
		}
		out := strings.Split(f.Tag.Get("enum"), "|")
		slices.Sort(out)
		return out
	}
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
	cases := []struct {
		name       string
		registered []string
		config     []string
		doc        string
	}{
		{"event sinks", siem.BuiltinSinks().Types(), siem.BuiltinSinks().Settings().Names(), "event sinks"},
		{"store drivers", store.BuiltinDrivers().Names(), enum(config.Store{}, "Driver"), "store drivers"},
		{"state drivers", slices.Sorted(maps.Keys(ratelimit.BuiltinStateDrivers())), enum(config.State{}, "Driver"), "state drivers"},
	}
	page, err := os.ReadFile("../../docs/security-events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range siem.BuiltinSinks().Types() {
		for _, key := range config.Keys(siem.BuiltinSinks()[typ].Settings()) {
			if key.Doc == "" || !strings.Contains(string(page), "`"+key.Name+"`") {
				t.Errorf("sink type %s: key %s needs a doc string and a mention in docs/security-events.md", typ, key.Name)
			}
		}
	}
	for _, c := range cases {
		if !slices.Equal(c.registered, c.config) {
			t.Errorf("%s: registered %v, the config accepts %v", c.name, c.registered, c.config)
		}
		if d := documented(c.doc); !slices.Equal(d, c.registered) {
			t.Errorf("%s: docs/extending.md lists %v, registered %v", c.name, d, c.registered)
		}
	}
}
