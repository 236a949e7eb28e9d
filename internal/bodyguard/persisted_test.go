package bodyguard

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPersisted(t *testing.T) {
	doc := "query Q { a }"
	sum := sha256.Sum256([]byte(doc))
	hash := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	load := func(content string) (*Persisted, error) {
		path := filepath.Join(dir, "m.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return LoadPersisted(path)
	}
	apq := func(h string) GraphQLRequest {
		var r GraphQLRequest
		r.Extensions.PersistedQuery = &struct {
			SHA256Hash string `json:"sha256Hash"`
		}{h}
		return r
	}
	for _, tc := range []struct {
		manifest string
		byID     []GraphQLRequest
	}{
		{`{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"` + hash + `","name":"Q","type":"query","body":"` + doc + `"}]}`,
			[]GraphQLRequest{apq(hash), apq(strings.ToUpper(hash)), {ID: hash}, {DocumentID: hash}}},
		{`{"` + hash + `":"` + doc + `"}`, []GraphQLRequest{{ID: hash}, apq(hash)}},
		{`{"relay-md5-id":"` + doc + `"}`, []GraphQLRequest{{ID: "relay-md5-id"}, {DocumentID: "relay-md5-id"}, apq(hash)}},
	} {
		p, err := load(tc.manifest)
		if err != nil {
			t.Fatalf("%s: %v", tc.manifest, err)
		}
		for _, req := range append(tc.byID, GraphQLRequest{Query: doc}) {
			if got, ok := p.resolve(&req); !ok || got != doc {
				t.Errorf("%s: %+v resolved to %q %v", tc.manifest, req, got, ok)
			}
		}
		for _, req := range []GraphQLRequest{{Query: doc + " "}, {ID: "nope"}, {Query: "{ b }"}, {}, {ID: "relay-md5-id", Query: "{ b }"}} {
			if _, ok := p.resolve(&req); ok {
				t.Errorf("%s: %+v resolved", tc.manifest, req)
			}
		}
	}
	for _, bad := range []string{`[]`, `{}`, `{"format":"other","operations":[]}`, `{"x":"query {"}`, `{"format":"apollo-persisted-query-manifest","operations":[{"id":"x"}]}`} {
		if _, err := load(bad); err == nil {
			t.Errorf("%s loaded", bad)
		}
	}
}
