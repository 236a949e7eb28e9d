package bodyguard

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/rampart-gw/rampart/internal/config"
)

// Persisted is a manifest of the operations a GraphQL API's clients may
// send, by id and by the SHA-256 of their text.
type Persisted struct {
	byID   map[string]string
	byHash map[string]string // hex SHA-256 of a document: the document
}

// LoadPersisted reads a manifest: an Apollo persisted query manifest, or
// a JSON object of id to document.
func LoadPersisted(path string) (*Persisted, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	var apollo struct {
		Format     string `json:"format"`
		Operations []struct {
			ID   string `json:"id"`
			Body string `json:"body"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(data, &apollo); err == nil && apollo.Format != "" {
		if apollo.Format != "apollo-persisted-query-manifest" {
			return nil, fmt.Errorf("format %q is not apollo-persisted-query-manifest", apollo.Format)
		}
		for i, op := range apollo.Operations {
			if op.ID == "" || op.Body == "" {
				return nil, fmt.Errorf("operations[%d] needs an id and a body", i)
			}
			docs[op.ID] = op.Body
		}
	} else if err := json.Unmarshal(data, &docs); err != nil {
		return nil, fmt.Errorf("not a manifest: an Apollo persisted query manifest, or a JSON object of id to document")
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("the manifest lists no operation")
	}
	p := &Persisted{byID: docs, byHash: make(map[string]string, len(docs))}
	for _, id := range slices.Sorted(maps.Keys(docs)) {
		if _, err := parser.ParseQuery(&ast.Source{Input: docs[id]}); err != nil {
			return nil, fmt.Errorf("operation %s is not a GraphQL document: %v", id, err)
		}
		sum := sha256.Sum256([]byte(docs[id]))
		p.byHash[hex.EncodeToString(sum[:])] = docs[id]
	}
	return p, nil
}

// resolve is the listed document of a request: by its id when it names
// one, by its text's hash when it sends one. ok false: not listed.
func (p *Persisted) resolve(req *GraphQLRequest) (string, bool) {
	id := req.ID
	if id == "" {
		id = req.DocumentID
	}
	if pq := req.Extensions.PersistedQuery; id == "" && pq != nil {
		id = strings.ToLower(pq.SHA256Hash)
		if doc, ok := p.byHash[id]; ok {
			return doc, req.Query == "" || req.Query == doc
		}
	}
	if id != "" {
		doc, ok := p.byID[id]
		return doc, ok && (req.Query == "" || req.Query == doc)
	}
	sum := sha256.Sum256([]byte(req.Query))
	doc, ok := p.byHash[hex.EncodeToString(sum[:])]
	return doc, ok
}

// CheckPersisted reads every policy's manifest (config.Check).
func CheckPersisted(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		pol := cfg.Policies[name]
		if pol == nil || pol.Validate == nil || pol.Validate.GraphQL == nil || pol.Validate.GraphQL.Persisted == nil {
			continue
		}
		m := pol.Validate.GraphQL.Persisted.Manifest
		if _, err := os.Stat(cfg.Path(m)); err != nil {
			continue // the validator's error
		}
		if _, err := LoadPersisted(cfg.Path(m)); err != nil {
			errs = append(errs, cfg.FieldError("policies."+name+".validate.graphql.persisted.manifest", fmt.Errorf("%s: %w", m, err)))
		}
	}
	return errs
}
