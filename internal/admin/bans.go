package admin

import (
	"context"
	"net/http"

	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/ratelimit"
)

// Bans is the graduated-response state the admin API lists and lifts.
type Bans interface {
	Bans(ctx context.Context) ([]ratelimit.Ban, error)
	LiftBan(ctx context.Context, id string) (bool, error)
}

// Quotas is what the admin API reads of consumers' quota usage.
type Quotas interface {
	QuotaUsage(ctx context.Context, consumer string) ([]ratelimit.QuotaUsage, error)
}

// quotaRoutes serves GET /consumers/{id}/quotas: the consumer's usage of
// every quota keyed by consumer, in the current period.
func quotaRoutes(mux *http.ServeMux, q Quotas) {
	mux.HandleFunc("GET /consumers/{id}/quotas", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		list, err := q.QuotaUsage(r.Context(), id)
		if err != nil {
			unavailable(w, r, "Quota usage could not be read from the shared state: "+err.Error()+". Retry shortly.")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"consumer": id, "quotas": list})
	})
}

// banRoutes serves GET /bans and DELETE /bans/{id}, what `rampart bans`
// calls. With state driver redis they show and lift the bans of every
// node; with memory, this node's.
func banRoutes(mux *http.ServeMux, g Source) {
	b := Bans(g)
	mux.HandleFunc("GET /bans", func(w http.ResponseWriter, r *http.Request) {
		list, err := b.Bans(r.Context())
		if err != nil {
			unavailable(w, r, "The ban list could not be read from the shared state: "+err.Error()+". Retry shortly.")
			return
		}
		if list == nil {
			list = []ratelimit.Ban{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"bans": list})
	})
	mux.HandleFunc("DELETE /bans/{id}", func(w http.ResponseWriter, r *http.Request) {
		ok, err := b.LiftBan(r.Context(), r.PathValue("id"))
		switch {
		case err != nil:
			unavailable(w, r, "The ban could not be lifted in the shared state: "+err.Error()+". Retry shortly.")
		case !ok:
			writeProblem(w, r, problem.New(problem.NotFound, "No key with this id is banned now; list bans with GET /bans (a ban may have ended meanwhile)."))
		default:
			action(g, r, "ban_lifted", r.PathValue("id"), "", "A graduated-response ban was lifted.")
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

func unavailable(w http.ResponseWriter, r *http.Request, detail string) {
	w.Header().Set("Retry-After", "1")
	writeProblem(w, r, problem.New(problem.Unavailable, detail))
}
