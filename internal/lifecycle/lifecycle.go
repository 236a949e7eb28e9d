// Package lifecycle announces the end of a route's API version and
// enforces it: every response of a deprecated route carries the
// Deprecation (RFC 9745) and Sunset (RFC 8594) headers and Link relations
// to the migration notes and the next version; from the sunset on, the
// route answers 410 Gone itself. Operators see who still calls through
// route.deprecated events, one per caller per route per hour, and a
// counter per route.
package lifecycle

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Options are what a stage needs besides the route's settings.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Count counts a request by outcome: served (before the sunset) or
	// gone (after it).
	Count func(outcome string)
	// Every is how often one caller of the route is reported in a
	// route.deprecated event; 0 means an hour.
	Every time.Duration
}

// Stage is one deprecated route's announcement and sunset.
type Stage struct {
	route  string
	sunset time.Time // zero: none set
	// The header values, computed once.
	deprecation, sunsetDate string
	links                   []string
	goneDetail              string
	now                     func() time.Time
	count                   func(string)
	callers                 *callers
}

// New compiles a route's deprecation (validated by config).
func New(route string, d *config.Deprecation, o Options) *Stage {
	s := &Stage{route: route, sunset: d.Sunset.Time, now: o.Now, count: o.Count,
		deprecation: "@" + strconv.FormatInt(d.Since.Unix(), 10),
		callers:     newCallers(o.Every)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.count == nil {
		s.count = func(string) {}
	}
	if d.Link != "" {
		s.links = append(s.links, "<"+d.Link+`>; rel="deprecation"; type="text/html"`)
	}
	if d.Successor != "" {
		s.links = append(s.links, "<"+d.Successor+`>; rel="successor-version"`)
	}
	if !s.sunset.IsZero() {
		s.sunsetDate = s.sunset.UTC().Format(http.TimeFormat)
		s.goneDetail = fmt.Sprintf("This endpoint's API version was retired on %s and no longer answers.", s.sunset.UTC().Format(time.RFC3339))
		switch {
		case d.Successor != "" && d.Link != "":
			s.goneDetail += fmt.Sprintf(" Use %s instead; %s explains the changes.", d.Successor, d.Link)
		case d.Successor != "":
			s.goneDetail += fmt.Sprintf(" Use %s instead.", d.Successor)
		case d.Link != "":
			s.goneDetail += fmt.Sprintf(" %s explains what replaces it.", d.Link)
		default:
			s.goneDetail += " Ask the API operator what replaces it."
		}
	}
	return s
}

// Name names the stage in traces and docs/architecture.md.
func (s *Stage) Name() string { return "lifecycle" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The gateway owns these headers: on what it answers itself now,
		// and in place of the upstream's on the response head.
		s.own(w.Header())
		now := s.now()
		if !s.sunset.IsZero() && !now.Before(s.sunset) {
			s.count("gone")
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.Gone, Reason: "sunset", Stage: "lifecycle", Detail: s.goneDetail})
			return
		}
		st := reqctx.From(r.Context())
		st.AddResponseFilter(func(h http.Header, _ *reqctx.State) { s.own(h) })
		next.ServeHTTP(w, r)
		s.count("served")
		s.report(r, st, now)
	})
}

// own sets the route's lifecycle headers on h, keeping any other Link
// the upstream sent.
func (s *Stage) own(h http.Header) {
	h["Deprecation"] = []string{s.deprecation}
	if s.sunsetDate != "" {
		h["Sunset"] = []string{s.sunsetDate}
	}
	for _, l := range s.links {
		if !slices.Contains(h["Link"], l) {
			h["Link"] = append(h["Link"], l)
		}
	}
}

// report publishes a route.deprecated event for the request's caller
// (the consumer, or the client address when anonymous) unless that
// caller was reported within the last period.
func (s *Stage) report(r *http.Request, st *reqctx.State, now time.Time) {
	caller := st.Consumer
	if caller == "" {
		caller = "ip:" + st.ClientIP.String()
	}
	if !s.callers.due(caller, now) {
		return
	}
	detail := "a deprecated route was called; this caller is reported at most once per " + s.callers.every.String()
	if !s.sunset.IsZero() {
		detail += "; it stops answering at " + s.sunset.UTC().Format(time.RFC3339)
	}
	st.Events.Publish(observe.Event{Type: "route.deprecated", Reason: "deprecated", Stage: "lifecycle", Status: st.Status,
		Detail: detail, Consumer: st.Consumer, ClientIP: st.ClientIP.String(), RequestID: st.RequestID,
		Route: s.route, Method: r.Method, Path: st.Path})
}

// maxCallers bounds the callers remembered per route: past it, those not
// seen within the period are forgotten, and if that frees nothing the
// memory starts over (callers are then reported again, never lost).
const maxCallers = 10000

// callers remembers when each caller of a route was last reported.
type callers struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func newCallers(every time.Duration) *callers {
	if every <= 0 {
		every = time.Hour
	}
	return &callers{every: every, last: map[string]time.Time{}}
}

// due reports whether caller is to be reported at now, and if so notes it.
func (c *callers) due(caller string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.last[caller]; ok && now.Sub(t) < c.every {
		return false
	}
	if len(c.last) >= maxCallers {
		for k, t := range c.last {
			if now.Sub(t) >= c.every {
				delete(c.last, k)
			}
		}
		if len(c.last) >= maxCallers {
			clear(c.last)
		}
	}
	c.last[caller] = now
	return true
}
