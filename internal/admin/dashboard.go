package admin

import (
	"context"
	"github.com/rampart-gw/rampart/internal/accessreview"
	"github.com/rampart-gw/rampart/internal/threatintel"
	"net/http"

	"github.com/rampart-gw/rampart/internal/dashboard"
	"github.com/rampart-gw/rampart/internal/gateway"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/ratelimit"
)

// Dashboard is what the security dashboard needs beyond the admin API.
type Dashboard interface {
	// Recorder is nil when admin.dashboard.disabled is set.
	Recorder() *dashboard.Recorder
	Reloads() []gateway.ReloadStatus
	Health() []observe.TargetHealth
}

// dashboardSource adapts the gateway to the dashboard's Source.
type dashboardSource struct{ g Source }

func (d dashboardSource) Bans(ctx context.Context) ([]ratelimit.Ban, error) { return d.g.Bans(ctx) }
func (d dashboardSource) LiftBan(ctx context.Context, id string) (bool, error) {
	return d.g.LiftBan(ctx, id)
}
func (d dashboardSource) Health() []observe.TargetHealth    { return d.g.Health() }
func (d dashboardSource) Publish(e observe.Event)           { d.g.Publish(e) }
func (d dashboardSource) Token() string                     { return d.g.Config().Admin.Token.Value() }
func (d dashboardSource) ThreatFeeds() []threatintel.Status { return d.g.ThreatFeeds() }
func (d dashboardSource) AccessReview(ctx context.Context) (*accessreview.Report, error) {
	return d.g.AccessReview(ctx)
}
func (d dashboardSource) Reloads() []dashboard.Reload {
	var out []dashboard.Reload
	for _, st := range d.g.Reloads() {
		r := dashboard.Reload{Time: st.Time, Source: st.Source, OK: st.OK, Message: st.Message}
		for _, e := range st.Errors {
			r.Errors = append(r.Errors, e.Error())
		}
		out = append(out, r)
	}
	return out
}

// dashboardRoutes mounts the dashboard, which signs browsers in itself
// (the admin token once, then a session cookie).
func dashboardRoutes(mux *http.ServeMux, g Source) bool {
	rec := g.Recorder()
	if rec == nil {
		return false
	}
	h := dashboard.New(dashboardSource{g}, rec)
	mux.Handle(dashboard.Path, h)
	mux.Handle(dashboard.Path+"/", h)
	return true
}
