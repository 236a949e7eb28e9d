package builtin

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
)

// TestKindsMatchConfigAndDocs: the registry serves exactly the types the
// config accepts and docs/extending.md lists, each kind has every part
// the rest of Rampart asks for, and its docs page exists and names each
// of its keys, every one of which has a doc string.
func TestKindsMatchConfigAndDocs(t *testing.T) {
	kinds := Kinds()
	if got, accepted := kinds.Types(), kinds.Settings().Names(); !slices.Equal(got, accepted) {
		t.Errorf("registry serves %v, the config accepts %v", got, accepted)
	}
	doc, err := os.ReadFile("../../../docs/extending.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\| `[a-z]+\\.Kind` \\|").FindAllStringSubmatch(string(doc), -1) {
		listed = append(listed, m[1])
	}
	slices.Sort(listed)
	if !slices.Equal(listed, kinds.Types()) {
		t.Errorf("docs/extending.md lists %v, the registry serves %v", listed, kinds.Types())
	}
	for _, typ := range kinds.Types() {
		k, _ := kinds.Lookup(typ)
		if k.Build == nil || k.Describe == nil || k.Credential == nil {
			t.Errorf("kind of %s lacks Build, Describe or Credential", typ)
		}
		page, err := os.ReadFile("../../../docs/" + k.Doc)
		if err != nil {
			t.Errorf("kind of %s: docs page: %v", typ, err)
		}
		for _, key := range config.Keys(k.Types[typ]()) {
			if key.Doc == "" {
				t.Errorf("%s: %s has no doc string", typ, key.Name)
			}
			if !strings.Contains(string(page), key.Name) {
				t.Errorf("%s: docs/%s does not mention %s", typ, k.Doc, key.Name)
			}
		}
	}
}
