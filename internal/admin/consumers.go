package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/store"
)

// consumers offers what `rampart consumers` does, behind the admin token.
func (k *keysAPI) consumerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /consumers", k.listConsumers)
	mux.HandleFunc("GET /consumers/{id}", k.getConsumer)
	mux.HandleFunc("PUT /consumers/{id}", k.putConsumer)
}

func (k *keysAPI) listConsumers(w http.ResponseWriter, r *http.Request) {
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	list, err := ks.D.ListConsumers(r.Context())
	if err != nil {
		k.fail(w, r, err)
		return
	}
	if list == nil {
		list = []store.Consumer{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"consumers": list})
}

func (k *keysAPI) getConsumer(w http.ResponseWriter, r *http.Request) {
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	c, err := ks.D.GetConsumer(r.Context(), r.PathValue("id"))
	if err != nil {
		k.consumerFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// putConsumer creates or replaces a consumer's record.
func (k *keysAPI) putConsumer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Roles      []string          `json:"roles"`
		Scopes     []string          `json:"scopes"`
		Attributes map[string]string `json:"attributes"`
		Disabled   bool              `json:"disabled"`
	}
	if err := body(r, &req); err != nil {
		k.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if err := k.g.Config().CheckConsumer(id, req.Roles, req.Scopes, req.Attributes); err != nil {
		k.fail(w, r, err)
		return
	}
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	c := store.Consumer{ID: id, Roles: req.Roles, Scopes: req.Scopes, Attributes: req.Attributes, Disabled: req.Disabled, CreatedAt: time.Now().UTC()}
	status := http.StatusCreated
	if old, err := ks.D.GetConsumer(r.Context(), id); err == nil {
		c.CreatedAt, status = old.CreatedAt, http.StatusOK
	}
	if err := ks.D.PutConsumer(r.Context(), c); err != nil {
		k.fail(w, r, err)
		return
	}
	action(k.g, r, "consumer_saved", id, id, "A consumer record (roles, scopes, attributes) was saved.")
	writeJSON(w, status, c)
}

func (k *keysAPI) consumerFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeProblem(w, r, problem.New(problem.NotFound, "No consumer has this id in the store; list them with GET /consumers."))
		return
	}
	k.fail(w, r, err)
}
