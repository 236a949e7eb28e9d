package admin

import (
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/store"
)

// grantRoutes offers what `rampart grants` does, behind the admin token:
// GET /grants (?consumer=ID, ?all=true for expired and revoked ones
// too), POST /grants {consumer, role, for, reason}, DELETE /grants/{id}.
func (k *keysAPI) grantRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /grants", k.listGrants)
	mux.HandleFunc("POST /grants", k.createGrant)
	mux.HandleFunc("DELETE /grants/{id}", k.revokeGrant)
}

func (k *keysAPI) listGrants(w http.ResponseWriter, r *http.Request) {
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	list, err := ks.D.ListGrants(r.Context(), r.URL.Query().Get("consumer"))
	if err != nil {
		k.grantFail(w, r, err)
		return
	}
	now := time.Now()
	all := r.URL.Query().Get("all") == "true"
	out := make([]store.GrantInfo, 0, len(list))
	for _, g := range list {
		if all || g.State(now) == "active" {
			out = append(out, g.Info(now))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": out})
}

func (k *keysAPI) createGrant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Consumer string `json:"consumer"`
		Role     string `json:"role"`
		For      string `json:"for"`
		Reason   string `json:"reason"`
	}
	if err := body(r, &req); err != nil {
		writeProblem(w, r, problem.New(problem.BadRequest, err.Error()))
		return
	}
	d, err := time.ParseDuration(req.For)
	switch {
	case !config.ConsumerIDValid(req.Consumer):
		writeProblem(w, r, problem.New(problem.BadRequest, "consumer must be 1-128 letters, digits, '.', '_', '-', '@' or ':'."))
		return
	case k.g.Config().Roles[req.Role] == nil:
		writeProblem(w, r, problem.New(problem.BadRequest, "role "+req.Role+" is not a role of the serving config."))
		return
	case err != nil:
		writeProblem(w, r, problem.New(problem.BadRequest, `for must be a duration such as "2h" or "30m".`))
		return
	}
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	g, err := store.Grants{D: ks.D}.Create(r.Context(), req.Consumer, req.Role, d, req.Reason, adminActor(r))
	if err != nil {
		k.grantFail(w, r, err)
		return
	}
	action(k.g, r, "grant_created", g.ID, g.Consumer, g.CreatedDetail())
	writeJSON(w, http.StatusCreated, g.Info(time.Now()))
}

func (k *keysAPI) revokeGrant(w http.ResponseWriter, r *http.Request) {
	ks, done, ok := k.keys(w, r)
	if !ok {
		return
	}
	defer done()
	g, err := store.Grants{D: ks.D}.Revoke(r.Context(), r.PathValue("id"), adminActor(r))
	if err != nil {
		k.grantFail(w, r, err)
		return
	}
	action(k.g, r, "grant_revoked", g.ID, g.Consumer, g.RevokedDetail())
	writeJSON(w, http.StatusOK, g.Info(time.Now()))
}

func (k *keysAPI) grantFail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeProblem(w, r, problem.New(problem.NotFound, "No grant has this id; list them with GET /grants?all=true."))
	case errors.Is(err, store.ErrGrantInvalid):
		writeProblem(w, r, problem.New(problem.BadRequest, err.Error()+"."))
	default:
		k.log.Error("admin: grants store failed", "error", err)
		writeProblem(w, r, problem.New(problem.Unavailable, "The store could not be read or written; see the gateway log, and retry."))
	}
}

// adminActor names an admin API caller in a grant: the token is shared,
// so the address it came from.
func adminActor(r *http.Request) string {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return "admin-api:" + host
}
