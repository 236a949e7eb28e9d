package admin

import (
	"net/http"
	"slices"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
)

// cacheRoutes serves DELETE /cache (every route's cached responses) and
// DELETE /cache/{route}, what `rampart cache purge` calls.
func cacheRoutes(mux *http.ServeMux, g Source) {
	mux.HandleFunc("DELETE /cache", func(w http.ResponseWriter, r *http.Request) {
		n := g.PurgeCache("")
		action(g, r, "cache_purged", "", "", "Every route's cached responses were purged.")
		writeJSON(w, http.StatusOK, map[string]any{"purged": n})
	})
	mux.HandleFunc("DELETE /cache/{route}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("route")
		if !slices.ContainsFunc(g.Config().Routes, func(rt *config.Route) bool { return rt.Name == name && rt.Cache != nil }) {
			writeProblem(w, r, problem.New(problem.NotFound, "No route of that name has a cache; the route names are in GET /config."))
			return
		}
		n := g.PurgeCache(name)
		action(g, r, "cache_purged", name, "", "A route's cached responses were purged.")
		writeJSON(w, http.StatusOK, map[string]any{"route": name, "purged": n})
	})
}
