package admin

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
)

// cacheRoutes serves DELETE /cache (every route's cached responses) and
// DELETE /cache/{route}, what `rampart cache purge` calls. Either takes
// ?path=/prefix (responses to paths under it; with &exact=true, to that
// path alone) and ?tag=name (responses the upstream tagged with
// Cache-Tag: name).
func cacheRoutes(mux *http.ServeMux, g Source) {
	purge := func(w http.ResponseWriter, r *http.Request, route string) {
		q := r.URL.Query()
		path, tag, exact := q.Get("path"), q.Get("tag"), q.Get("exact") == "true"
		if path != "" && !strings.HasPrefix(path, "/") {
			writeProblem(w, r, problem.New(problem.BadRequest, "path must be a path prefix starting with /, as the gateway normalised it (percent-encoded as requests send it)."))
			return
		}
		if exact && path == "" {
			writeProblem(w, r, problem.New(problem.BadRequest, "exact=true needs path: the one path whose responses to purge."))
			return
		}
		n := g.PurgeCache(route, path, exact, tag)
		what := "Every route's cached responses"
		if route != "" {
			what = "A route's cached responses"
		}
		switch {
		case exact:
			what += fmt.Sprintf(" to %s", problem.Clip(path, 128))
		case path != "":
			what += fmt.Sprintf(" under %s", problem.Clip(path, 128))
		}
		if tag != "" {
			what += fmt.Sprintf(" tagged %s", problem.Clip(tag, 64))
		}
		action(g, r, "cache_purged", route, "", what+" were purged.")
		out := map[string]any{"purged": n}
		if route != "" {
			out["route"] = route
		}
		writeJSON(w, http.StatusOK, out)
	}
	mux.HandleFunc("DELETE /cache", func(w http.ResponseWriter, r *http.Request) { purge(w, r, "") })
	mux.HandleFunc("DELETE /cache/{route}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("route")
		if !slices.ContainsFunc(g.Config().Routes, func(rt *config.Route) bool { return rt.Name == name && rt.Cache != nil }) {
			writeProblem(w, r, problem.New(problem.NotFound, "No route of that name has a cache; the route names are in GET /config."))
			return
		}
		purge(w, r, name)
	})
}
