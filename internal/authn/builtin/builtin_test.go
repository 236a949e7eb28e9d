package builtin

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
)

// TestKindsMatchConfigAndDocs: the registry serves exactly the types the
// config accepts and docs/extending.md lists, each kind has every part
// the rest of Rampart asks for, and its docs page exists.
func TestKindsMatchConfigAndDocs(t *testing.T) {
	kinds := Kinds()
	f, _ := reflect.TypeFor[config.Authenticator]().FieldByName("Type")
	enum := strings.Split(f.Tag.Get("enum"), "|")
	slices.Sort(enum)
	if got := kinds.Types(); !slices.Equal(got, enum) {
		t.Errorf("registry serves %v, the config accepts %v", got, enum)
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
		if _, err := os.Stat("../../../docs/" + k.Doc); err != nil {
			t.Errorf("kind of %s: docs page: %v", typ, err)
		}
	}
}
