// Package dashboard serves the security dashboard of the admin listener:
// requests and refusals over time, who is refused most, active bans (which
// it can lift), WAF matches by rule group, upstream health and the config
// reload history. Its data comes from the gateway's own metrics and event
// bus (the Recorder); nothing outside the gateway is needed.
package dashboard

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/rampart-gw/rampart/internal/observe"
)

// Step is the time between two points of the charts; Points of them make
// the window the dashboard shows.
const (
	Step   = 2 * time.Second
	Points = 150
	// recentEvents is how many events the dashboard lists.
	recentEvents = 50
	// Window is how long refusals count towards the top lists: this
	// window and the one before.
	Window = 15 * time.Minute
	// maxTracked bounds the clients and consumers counted per window, so
	// a flood of addresses cannot grow the recorder without limit.
	maxTracked = 10000
)

// Recorder keeps what the dashboard plots: it is a sink of the event bus
// and samples the metrics every Step.
type Recorder struct {
	gather prometheus.Gatherer

	mu        sync.Mutex
	times     [Points]int64          // unix ms of each point, a ring
	requests  [Points]float64        // requests/s
	refused   [Points]map[string]int // refusals by reason in the step
	head      int                    // index of the newest point
	n         int                    // points filled
	pending   map[string]int         // refusals since the last point
	lastReq   float64                // requests counter at the last point
	ips       map[string]int         // refusals by client address, this window
	people    map[string]int         // refusals by consumer, this window
	oldIPs    map[string]int         // the same, the window before
	oldPeople map[string]int
	windowAt  time.Time          // when this window began
	recent    []observe.Event    // newest last
	waf       map[string]float64 // WAF matches by rule group, since start
	started   time.Time
	stop      context.CancelFunc
	done      chan struct{}
}

// NewRecorder starts sampling g; Close stops it.
func NewRecorder(g prometheus.Gatherer) *Recorder {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{gather: g, pending: map[string]int{}, ips: map[string]int{}, people: map[string]int{}, waf: map[string]float64{},
		started: time.Now(), windowAt: time.Now(), stop: cancel, done: make(chan struct{})}
	r.lastReq = r.sample(time.Now())
	r.n = 0 // the first sample only sets the baseline
	go r.loop(ctx)
	return r
}

func (r *Recorder) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(Step)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.sample(now)
		}
	}
}

// sample adds a point: the request rate since the last one from the
// metrics, and the refusals counted from events meanwhile.
func (r *Recorder) sample(now time.Time) float64 {
	var reqs float64
	waf := map[string]float64{}
	if mfs, err := r.gather.Gather(); err == nil {
		for _, mf := range mfs {
			switch mf.GetName() {
			case "rampart_requests_total":
				for _, m := range mf.GetMetric() {
					reqs += m.GetCounter().GetValue()
				}
			case "rampart_waf_rule_groups_total":
				for _, m := range mf.GetMetric() {
					waf[label(m, "group")] += m.GetCounter().GetValue()
				}
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.head = (r.head + 1) % Points
	r.times[r.head] = now.UnixMilli()
	r.requests[r.head] = max(reqs-r.lastReq, 0) / Step.Seconds()
	r.refused[r.head] = r.pending
	r.pending = map[string]int{}
	r.lastReq = reqs
	r.waf = waf
	r.n = min(r.n+1, Points)
	if now.Sub(r.windowAt) >= Window {
		r.oldIPs, r.oldPeople, r.ips, r.people, r.windowAt = r.ips, r.people, map[string]int{}, map[string]int{}, now
	}
	return reqs
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Name implements observe.Sink.
func (r *Recorder) Name() string { return "dashboard" }

// Write implements observe.Sink: refusals are counted by reason, client
// and consumer, and every event joins the recent list.
func (r *Recorder) Write(e *observe.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Type == "request.refused" {
		r.pending[e.Reason]++
		if e.ClientIP != "" && (len(r.ips) < maxTracked || r.ips[e.ClientIP] > 0) {
			r.ips[e.ClientIP]++
		}
		if e.Consumer != "" && (len(r.people) < maxTracked || r.people[e.Consumer] > 0) {
			r.people[e.Consumer]++
		}
	}
	if len(r.recent) == recentEvents {
		copy(r.recent, r.recent[1:])
		r.recent = r.recent[:recentEvents-1]
	}
	ev := *e
	ev.Masked = nil
	r.recent = append(r.recent, ev)
	return nil
}

// Close implements observe.Sink: it stops the sampling.
func (r *Recorder) Close() error {
	r.stop()
	<-r.done
	return nil
}

// Series is the charts' data, oldest point first.
type Series struct {
	StepSeconds float64          `json:"step_seconds"`
	Times       []int64          `json:"times"` // unix ms
	Requests    []float64        `json:"requests_per_second"`
	Refusals    map[string][]int `json:"refusals"` // by reason, per step
}

// Count is a name and how often it was seen.
type Count struct {
	Name  string  `json:"name"`
	Count float64 `json:"count"`
}

// View is what the recorder knows, for the dashboard's data call.
type View struct {
	Since        time.Time       `json:"since"`
	Series       Series          `json:"series"`
	TopIPs       []Count         `json:"top_refused_ips"`
	TopConsumers []Count         `json:"top_refused_consumers"`
	WAFGroups    []Count         `json:"waf_rule_groups"`
	Recent       []observe.Event `json:"recent_events"`
}

// View copies out the current data.
func (r *Recorder) View() View {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := View{Since: r.started, Series: Series{StepSeconds: Step.Seconds(), Times: make([]int64, 0, r.n), Requests: make([]float64, 0, r.n), Refusals: map[string][]int{}}}
	for i := r.n - 1; i >= 0; i-- {
		idx := (r.head - i + Points) % Points
		v.Series.Times = append(v.Series.Times, r.times[idx])
		v.Series.Requests = append(v.Series.Requests, r.requests[idx])
	}
	for i := r.n - 1; i >= 0; i-- {
		idx := (r.head - i + Points) % Points
		for reason := range r.refused[idx] {
			if _, ok := v.Series.Refusals[reason]; !ok {
				v.Series.Refusals[reason] = make([]int, r.n)
			}
		}
	}
	for i := r.n - 1; i >= 0; i-- {
		idx := (r.head - i + Points) % Points
		for reason, c := range r.refused[idx] {
			v.Series.Refusals[reason][r.n-1-i] = c
		}
	}
	v.TopIPs = top(10, r.ips, r.oldIPs)
	v.TopConsumers = top(10, r.people, r.oldPeople)
	v.WAFGroups = []Count{}
	for g, c := range r.waf {
		v.WAFGroups = append(v.WAFGroups, Count{Name: g, Count: c})
	}
	sortCounts(v.WAFGroups)
	v.Recent = make([]observe.Event, len(r.recent))
	for i, e := range r.recent {
		v.Recent[len(r.recent)-1-i] = e // newest first
	}
	return v
}

// top is the n names counted most across the maps.
func top(n int, maps ...map[string]int) []Count {
	sum := map[string]int{}
	for _, m := range maps {
		for k, c := range m {
			sum[k] += c
		}
	}
	out := make([]Count, 0, len(sum))
	for k, c := range sum {
		out = append(out, Count{Name: k, Count: float64(c)})
	}
	sortCounts(out)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func sortCounts(c []Count) {
	sort.Slice(c, func(i, j int) bool {
		if c[i].Count != c[j].Count {
			return c[i].Count > c[j].Count
		}
		return c[i].Name < c[j].Name
	})
}
