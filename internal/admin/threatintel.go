package admin

import (
	"context"
	"net/http"

	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/threatintel"
)

// ThreatFeeds is what the admin API reads and does of the
// threat-intelligence feeds.
type ThreatFeeds interface {
	ThreatFeeds() []threatintel.Status
	RefreshThreatFeed(ctx context.Context, name string) (threatintel.Status, bool, error)
}

// threatRoutes serves GET /threat-intel/feeds (each feed's entries, when
// its list was loaded and checked, its last error) and POST
// /threat-intel/feeds/{name}/refresh (refresh now, e.g. after the
// publisher announced an urgent update).
func threatRoutes(mux *http.ServeMux, g Source) {
	mux.HandleFunc("GET /threat-intel/feeds", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"feeds": g.ThreatFeeds()})
	})
	mux.HandleFunc("POST /threat-intel/feeds/{name}/refresh", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		st, ok, err := g.RefreshThreatFeed(r.Context(), name)
		switch {
		case !ok:
			writeProblem(w, r, problem.New(problem.NotFound, "No feed is named "+name+" in the serving config; list them with GET /threat-intel/feeds."))
			return
		case err != nil:
			action(g, r, "threat_feed_refreshed", name, "", "A threat-intelligence feed refresh was asked for and failed: "+err.Error())
		default:
			action(g, r, "threat_feed_refreshed", name, "", "A threat-intelligence feed was refreshed.")
		}
		writeJSON(w, http.StatusOK, st) // the status says whether it failed, and why
	})
}
