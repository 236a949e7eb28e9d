package schema

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rampart-gw/rampart/internal/config"
)

// Documents loads the OpenAPI document of every policy that names one
// (validate.openapi), keyed by policy name. A document that cannot be
// loaded is an error at its setting. Offline, a document that is not
// there was listed in the config's Unchecked and is skipped.
func Documents(cfg *config.Config) (map[string]*openapi3.T, config.Errors) {
	docs := map[string]*openapi3.T{}
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		p := cfg.Policies[name]
		if p == nil || p.Validate == nil || p.Validate.OpenAPI == "" {
			continue
		}
		path := cfg.Path(p.Validate.OpenAPI)
		if _, err := os.Stat(path); err != nil && cfg.Offline {
			continue
		}
		doc, err := LoadDocument(path)
		if err != nil {
			if pe, ok := err.(*os.PathError); ok {
				err = pe.Err
			}
			errs = append(errs, cfg.FieldError("policies."+name+".validate.openapi", fmt.Errorf("%s: %w", p.Validate.OpenAPI, err)))
			continue
		}
		docs[name] = doc
	}
	return docs, errs
}

// Check is Documents for validation (config.Check).
func Check(cfg *config.Config) config.Errors {
	_, errs := Documents(cfg)
	return errs
}

// LoadDocument reads and validates an OpenAPI 3.0 or 3.1 document.
// References to other files or URLs are refused: the gateway does not
// fetch what a document points at. Its servers are replaced by "/", so
// operations match the paths clients send to the gateway, whatever host
// it serves.
func LoadDocument(path string) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	// The document itself is read here, every time: kin-openapi's default
	// reader caches absolute paths for the life of the process, so a
	// changed document would never be seen by a reload. With this reader
	// set the library reads nothing else (IsExternalRefsAllowed no longer
	// applies): a reference to any other location is refused.
	loader.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		if (u.Scheme != "" && u.Scheme != "file") || u.Host != "" || filepath.Clean(filepath.FromSlash(u.Path)) != filepath.Clean(path) {
			return nil, fmt.Errorf("%s: references to other documents are not followed; bundle the document into one file", u.Redacted())
		}
		return readBounded(path, maxSpecBytes)
	}
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read as OpenAPI: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("is not a valid OpenAPI document: %w", err)
	}
	doc.Servers = openapi3.Servers{{URL: "/"}}
	return doc, nil
}

// maxSpecBytes bounds an OpenAPI document.
const maxSpecBytes = 32 << 20

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("is larger than %d bytes", limit)
	}
	return b, err
}
