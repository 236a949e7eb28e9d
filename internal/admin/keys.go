package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/store"
)

// keysAPI offers what `rampart keys` does, behind the admin token.
type keysAPI struct {
	g    Source
	open func(context.Context, *config.Config) (store.Driver, error)
	log  *slog.Logger
}

func (k *keysAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /keys", k.list)
	mux.HandleFunc("POST /keys", k.create)
	mux.HandleFunc("POST /keys/{id}/revoke", k.revoke)
	mux.HandleFunc("POST /keys/{id}/rotate", k.rotate)
}

func (k *keysAPI) keys(w http.ResponseWriter, r *http.Request) (*store.Keys, func(), bool) {
	cfg := k.g.Config()
	if cfg.Store == nil {
		writeProblem(w, r, problem.New(problem.NotFound, "No store is configured: add store: {driver: embedded, path: ...} to manage API keys."))
		return nil, nil, false
	}
	d, err := k.open(r.Context(), cfg)
	if err != nil {
		k.log.Error("admin: store cannot be opened", "error", err)
		writeProblem(w, r, problem.New(problem.Unavailable, "The store cannot be opened; see the gateway log."))
		return nil, nil, false
	}
	return &store.Keys{D: d, Hasher: store.NewHasher(cfg.Store.HashKey.Value())}, func() { _ = d.Close() }, true
}

func (k *keysAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(w, r, problem.New(problem.NotFound, "No API key has this id; list keys with GET /keys."))
		return
	}
	writeProblem(w, r, problem.New(problem.BadRequest, err.Error()))
}

// body decodes a small JSON request body into v; an empty body is fine.
func body(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil || len(b) == 0 {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("the request body must be a JSON object with the documented fields: " + err.Error())
	}
	return nil
}

func (k *keysAPI) list(w http.ResponseWriter, r *http.Request) {
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	list, err := ks.D.ListKeys(r.Context(), r.URL.Query().Get("consumer"))
	if err != nil {
		k.fail(w, r, err)
		return
	}
	now := time.Now()
	out := make([]store.KeyInfo, 0, len(list))
	for _, key := range list {
		out = append(out, key.Info(now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

// issued is the one response that shows a key's secret.
type issued struct {
	Key      string         `json:"key"`
	Info     store.KeyInfo  `json:"info"`
	Replaced *store.KeyInfo `json:"replaced,omitempty"`
}

func (k *keysAPI) create(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Consumer  string   `json:"consumer"`
		Scopes    []string `json:"scopes"`
		ExpiresIn string   `json:"expires_in"`
	}
	if err := body(r, &req); err != nil {
		k.fail(w, r, err)
		return
	}
	if !config.ConsumerIDValid(req.Consumer) {
		k.fail(w, r, errors.New("consumer must be 1-128 letters, digits, '.', '_', '-', '@' or ':'"))
		return
	}
	ttl, err := duration(req.ExpiresIn, 0, false)
	if err != nil {
		k.fail(w, r, errors.New("expires_in must be a positive duration such as 720h"))
		return
	}
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	plain, key, err := ks.Create(r.Context(), req.Consumer, store.CreateOptions{Scopes: req.Scopes, ExpiresIn: ttl})
	if err != nil {
		k.fail(w, r, err)
		return
	}
	action(k.g, r, "key_created", key.ID, key.Consumer, "An API key was created.")
	writeJSON(w, http.StatusCreated, issued{Key: plain, Info: key.Info(time.Now())})
}

func (k *keysAPI) revoke(w http.ResponseWriter, r *http.Request) {
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	key, err := ks.Revoke(r.Context(), r.PathValue("id"))
	if err != nil {
		k.fail(w, r, err)
		return
	}
	action(k.g, r, "key_revoked", key.ID, key.Consumer, "An API key was revoked.")
	writeJSON(w, http.StatusOK, key.Info(time.Now()))
}

func (k *keysAPI) rotate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Overlap string `json:"overlap"`
	}
	if err := body(r, &req); err != nil {
		k.fail(w, r, err)
		return
	}
	overlap, err := duration(req.Overlap, 24*time.Hour, true)
	if err != nil {
		k.fail(w, r, errors.New("overlap must be a duration such as 24h"))
		return
	}
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	plain, next, old, err := ks.Rotate(r.Context(), r.PathValue("id"), overlap)
	if err != nil {
		k.fail(w, r, err)
		return
	}
	action(k.g, r, "key_rotated", old.ID, old.Consumer, "An API key was rotated; its replacement is "+next.ID+".")
	now := time.Now()
	oldInfo := old.Info(now)
	writeJSON(w, http.StatusCreated, issued{Key: plain, Info: next.Info(now), Replaced: &oldInfo})
}

// duration parses an optional duration field: def when empty; negative
// values are refused, and zero unless zeroOK.
func duration(s string, def time.Duration, zeroOK bool) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || (d == 0 && !zeroOK) {
		return 0, errors.New("bad duration")
	}
	return d, nil
}
