package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Graduation is one policy's compiled graduated response. A key's
// offences are counted over a sliding window; from each threshold on the
// gateway warns, delays, refuses, and at the last bans the key for a
// period that grows with each ban.
type Graduation struct {
	Policy     string
	Window     time.Duration
	Warn       int64 // 0: level off
	ThrottleAt int64
	Delay      time.Duration
	Block      int64
	BanAt      int64
	Periods    []time.Duration // the first, second, ... ban; the last repeats
	Forget     time.Duration   // past bans count this long after the last ended
	offences   map[string]bool // problem slugs
	parts      []part
	id         string
}

// CompileGraduated compiles a policy's graduated section (defaults
// applied).
func CompileGraduated(policy string, c *config.Graduated) (*Graduation, error) {
	parts, err := parseKey(c.Key)
	if err != nil {
		return nil, err
	}
	g := &Graduation{Policy: policy, Window: c.Window.D(), Warn: c.Warn, Block: c.Block, parts: parts,
		offences: map[string]bool{problem.AbuseBlocked.Slug: true}, id: policy + "\x00graduated\x00" + c.Key}
	if g.Window <= 0 {
		return nil, fmt.Errorf("window %s must be positive", g.Window)
	}
	for _, o := range c.Offences {
		g.offences[o] = true
	}
	if t := c.Throttle; t != nil {
		g.ThrottleAt, g.Delay = t.After, t.Delay.D()
	}
	if b := c.Ban; b != nil {
		g.BanAt, g.Forget = b.After, b.Forget.D()
		for _, p := range b.Periods {
			g.Periods = append(g.Periods, p.D())
		}
		if len(g.Periods) == 0 {
			return nil, fmt.Errorf("ban needs at least one period")
		}
	}
	return g, nil
}

// PreAuth reports whether the key needs no identity, so the stage can
// run at stage 6, before authentication, and see every refusal after it.
func (g *Graduation) PreAuth() bool { return preAuth(g.parts) }

// period is the length of a key's ban number n (0-based).
func (g *Graduation) period(n int64) time.Duration {
	return g.Periods[min(int(n), len(g.Periods)-1)]
}

// Standing is a key's standing: its offences in the window and its ban.
type Standing struct {
	Offences    int64 // in the sliding window
	BannedUntil int64 // unix ns; in the past when not banned
	Bans        int64 // bans so far, until they are forgotten
}

// Ban is one banned key, as the admin API and `rampart bans` list it.
type Ban struct {
	ID      string    `json:"id"`
	Policy  string    `json:"policy"`
	Subject string    `json:"subject"` // what the key is, e.g. ip=203.0.113.7; secrets shown as a digest
	Until   time.Time `json:"until"`
	Count   int64     `json:"count"` // the key's nth ban
}

// Abuse holds graduated-response state: offence counts and bans.
type Abuse interface {
	// Standing returns k's standing at now (unix ns).
	Standing(ctx context.Context, k Key, g *Graduation, now int64) Standing
	// Offend records one offence of k and bans k when that reaches
	// g.BanAt; banned reports that this offence started a ban.
	Offend(ctx context.Context, k Key, g *Graduation, subject string, now int64) (s Standing, banned bool)
	// Bans lists the keys banned at now.
	Bans(ctx context.Context, now int64) ([]Ban, error)
	// Lift ends the ban of the key with this id and forgets its
	// offences; it reports whether the key was banned at now.
	Lift(ctx context.Context, id string, now int64) (bool, error)
	Shared() bool
}

// window is a sliding-window offence count in O(1) space: the counts of
// the current and the previous fixed window, the previous weighted by how
// much of it the sliding window still covers, rounded to the nearest.
// A key's first offence starts its windows, so a short burst of offences
// is never split by a window edge.
type window struct {
	start     int64 // unix ns
	prev, cur int64
}

// roll moves w to the fixed window holding now.
func (w *window) roll(now, length int64) {
	switch {
	case w.start == 0 || now >= w.start+2*length || now < w.start:
		*w = window{start: now}
	case now >= w.start+length:
		*w = window{start: w.start + length, prev: w.cur}
	}
}

// count is the sliding count at now (after roll).
func (w *window) count(now, length int64) int64 {
	covered := 1 - float64(now-w.start)/float64(length)
	return int64(math.Round(float64(w.prev)*covered)) + w.cur
}

// AbuseStage is the graduated response of one policy: stage 6 for keys
// known before authentication, else at the start of stage 11.
type AbuseStage struct {
	G      *Graduation
	State  Abuse
	Seed   maphash.Seed
	Now    func() time.Time
	Count  func(outcome string) // warned, throttled, blocked, banned, refused_banned; may be nil
	shared bool
}

// NewAbuseStage returns the stage of g.
func NewAbuseStage(g *Graduation, state Abuse, seed maphash.Seed, count func(string)) *AbuseStage {
	return &AbuseStage{G: g, State: state, Seed: seed, Now: time.Now, Count: count, shared: state.Shared()}
}

// Name names the stage in traces and docs/architecture.md (stage 6, the graduated response (a rate limit span)).
func (s *AbuseStage) Name() string { return "rate_limit" }

// Wrap implements the gateway's Stage.
func (s *AbuseStage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		var buf [512]byte
		k := hashKey(s.Seed, appendKey(buf[:0], s.G.id, s.G.parts, r, st), s.shared)
		now := s.Now().UnixNano()
		sd := s.State.Standing(r.Context(), k, s.G, now)
		g := s.G
		switch n := sd.Offences; {
		case sd.BannedUntil > now:
			s.count("refused_banned")
			retry := strconv.FormatInt(seconds(time.Duration(sd.BannedUntil-now)), 10)
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.Banned, Reason: "banned", Stage: "abuse", Rule: g.Policy,
				Detail: "This client is banned after repeated refused requests. The ban ends in " + retry +
					" s; requests before then are refused. Repeat offences bring longer bans.", Header: map[string]string{"Retry-After": retry}})
			return
		case g.Block > 0 && n >= g.Block:
			s.count("blocked")
			retry := strconv.FormatInt(seconds(g.Window), 10)
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.AbuseBlocked, Reason: "blocked", Stage: "abuse", Rule: g.Policy,
				Detail: fmt.Sprintf("Every request is refused for now: %d refused requests in the last %s. Stop for %s s; requests meanwhile count as further offences%s.",
					n, g.Window, retry, s.banWarning()), Header: map[string]string{"Retry-After": retry}})
			s.offend(k, r, st, now)
			return
		case g.ThrottleAt > 0 && n >= g.ThrottleAt:
			s.count("throttled")
			s.flag(w, r, st, "abuse.throttle", n, fmt.Sprintf("Delayed %s: %d refused requests in the last %s.", g.Delay, n, g.Window))
			t := time.NewTimer(g.Delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return // the client left
			}
		case g.Warn > 0 && n >= g.Warn:
			s.count("warned")
			s.flag(w, r, st, "abuse.warn", n, fmt.Sprintf("%d refused requests in the last %s.", n, g.Window))
		}
		next.ServeHTTP(w, r)
		if (st.Problem != "" && g.offences[st.Problem]) || (st.Offence != "" && g.offences[st.Offence]) {
			s.offend(k, r, st, s.Now().UnixNano())
		}
	})
}

// flag sets the warning header and emits the level's event.
func (s *AbuseStage) flag(w http.ResponseWriter, r *http.Request, st *reqctx.State, event string, n int64, detail string) {
	w.Header().Set("Rampart-Warning", fmt.Sprintf("%d refused requests in %s; slow down%s", n, s.G.Window, s.banWarning()))
	st.Events.Publish(observe.Event{Type: event, Reason: "repeated_offences", Stage: "abuse", Rule: s.G.Policy, Detail: detail,
		Consumer: st.Consumer, ClientIP: st.ClientIP.String(), RequestID: st.RequestID, Route: st.Route, Method: r.Method, Path: st.Path})
}

func (s *AbuseStage) banWarning() string {
	if s.G.BanAt == 0 {
		return ""
	}
	return fmt.Sprintf(" (at %d the client is banned)", s.G.BanAt)
}

// offend records an offence and reports a ban it starts.
func (s *AbuseStage) offend(k Key, r *http.Request, st *reqctx.State, now int64) {
	// Recorded even when the client has gone: hanging up must not be a
	// way to offend without counting.
	sd, banned := s.State.Offend(context.WithoutCancel(r.Context()), k, s.G, subject(s.G.parts, r, st), now)
	if !banned {
		return
	}
	s.count("banned")
	period := time.Duration(sd.BannedUntil - now).Round(time.Second)
	st.Events.Publish(observe.Event{Type: "abuse.ban", Reason: "repeated_offences", Stage: "abuse", Rule: s.G.Policy,
		Detail:   fmt.Sprintf("Banned for %s (ban %d) after %d offences in %s.", period, sd.Bans, s.G.BanAt, s.G.Window),
		Consumer: st.Consumer, ClientIP: st.ClientIP.String(), RequestID: st.RequestID, Route: st.Route, Method: r.Method, Path: st.Path})
}

// OffendAs records an offence of the request's key found after the
// fact (attack correlation), when the graduated response counts that
// offence.
func (s *AbuseStage) OffendAs(r *http.Request, st *reqctx.State, offence string) {
	if !s.G.offences[offence] {
		return
	}
	var buf [512]byte
	k := hashKey(s.Seed, appendKey(buf[:0], s.G.id, s.G.parts, r, st), s.shared)
	s.offend(k, r, st, s.Now().UnixNano())
}

func (s *AbuseStage) count(outcome string) {
	if s.Count != nil {
		s.Count(outcome)
	}
}

// subject describes a key for the list of bans: consumer, IP and route
// as they are; header values as a digest (a header may carry a secret);
// claims cut short.
func subject(parts []part, r *http.Request, st *reqctx.State) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch p.kind {
		case partConsumer:
			b.WriteString("consumer=" + st.Consumer)
		case partIP:
			b.WriteString("ip=" + st.ClientIP.String())
		case partRoute:
			b.WriteString("route=" + st.Route)
		case partHeader:
			sum := sha256.Sum256([]byte(r.Header.Get(p.name)))
			b.WriteString("header:" + p.name + "=sha256:" + hex.EncodeToString(sum[:6]))
		case partClaim:
			v := ""
			if id := st.Identity; id != nil && id.Claims[p.name] != nil {
				v = fmt.Sprint(id.Claims[p.name])
			}
			b.WriteString("claim:" + p.name + "=" + problem.Clip(v, 64))
		}
	}
	return b.String()
}
