package gateway

import (
	"encoding/json"

	"github.com/rampart-gw/rampart/internal/baseline"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
)

// routeBaselines is the gateway's baseline set and the settings it was
// made with; a reload that changes the settings starts a new one.
type routeBaselines struct {
	set      *baseline.Set
	settings string
	stop     chan struct{}
}

// baselinesFor returns the set for cfg's baselines section (nil without
// one), keeping the running set, and what it learnt, while the section
// is unchanged.
func (g *Gateway) baselinesFor(cfg *config.Config) *baseline.Set {
	g.baselineMu.Lock()
	defer g.baselineMu.Unlock()
	settings := ""
	if cfg.Baselines != nil {
		b, _ := json.Marshal(cfg.Baselines)
		settings = string(b)
	}
	if cur := g.baselines; cur != nil && cur.settings == settings {
		return cur.set
	}
	g.stopBaselinesLocked()
	if cfg.Baselines == nil {
		return nil
	}
	b := cfg.Baselines
	rb := &routeBaselines{settings: settings, stop: make(chan struct{}),
		set: baseline.New(baseline.Options{Interval: b.Interval.D(), Tolerance: b.Tolerance, MinRequests: b.MinRequests,
			Report: func(route, kind, detail string) {
				g.bus.Publish(observe.Event{Type: "route." + kind + "_spike", Reason: kind + "_spike", Stage: "baseline", Route: route,
					Detail: "Route " + route + ": " + detail + "."})
			}})}
	go rb.set.Run(rb.stop)
	g.baselines = rb
	return rb.set
}

func (g *Gateway) stopBaselines() {
	g.baselineMu.Lock()
	defer g.baselineMu.Unlock()
	g.stopBaselinesLocked()
}

func (g *Gateway) stopBaselinesLocked() {
	if g.baselines != nil {
		close(g.baselines.stop)
		g.baselines = nil
	}
}
