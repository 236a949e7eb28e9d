package threatintel

import (
	"net/http"
	"time"

	"github.com/rampart-gw/rampart/internal/bots"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// The actions of a rule.
const (
	Block     = "block"
	Challenge = "challenge"
	Flag      = "flag"
)

// Offence is the offence a listed client commits, for a graduated
// response that counts it; also the problem type of a block.
var Offence = problem.ThreatListed.Slug

// Rule is one of a policy's rules: the feeds it consults and what it
// does with a client they list.
type Rule struct {
	Feeds  []*Feed
	JA4    []bool // per feed: a JA4 feed, consulted with the fingerprint
	Action string
}

// Stage is a policy's threat-intelligence rules, stage 6 of the request
// path (beside bans and bot checks, inside the graduated response so a
// flagged or refused client's offences count). The first rule whose
// feeds list the client decides.
type Stage struct {
	Policy    string
	Rules     []Rule
	Challenge *bots.Challenge // the policy's bots challenge; set when a rule challenges
	Now       func() time.Time
	Count     func(feed, action string) // matches by feed and the action taken (blocked, challenged, passed, solved, flagged); may be nil
}

// Name names the stage in traces and docs/architecture.md (stage 6,
// threat intelligence).
func (s *Stage) Name() string { return "threat_intel" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		for i := range s.Rules {
			rl := &s.Rules[i]
			feed, fp := s.listed(rl, st)
			if feed == "" {
				continue
			}
			what := "This address"
			if fp {
				what = "This client's TLS fingerprint"
			}
			switch rl.Action {
			case Block:
				s.count(feed, "blocked")
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.ThreatListed, Reason: "threat_listed", Stage: "threat_intel", Rule: feed,
					Detail: what + " is on a threat-intelligence list this API refuses. If it was listed by mistake, ask the list's publisher to delist it, or give the API operator the request id."})
				return
			case Challenge:
				if !s.Challenge.Demand(w, r, st, s.now(), "threat_intel", feed, what+" is on a threat-intelligence list",
					func(outcome string) { s.count(feed, outcome) }) {
					return
				}
			case Flag:
				s.count(feed, "flagged")
				st.Offence = Offence
				st.Events.Publish(observe.Event{Type: "threat.listed", Reason: "threat_listed", Stage: "threat_intel", Rule: feed,
					Detail: what + " is on the feed " + feed + "; the request goes on.", Consumer: st.Consumer,
					ClientIP: st.ClientIP.String(), RequestID: st.RequestID, Route: st.Route, Method: r.Method, Path: st.Path})
			}
			break // the first rule that lists the client decides
		}
		next.ServeHTTP(w, r)
	})
}

// listed returns the first of the rule's feeds listing the client, and
// whether it listed its fingerprint; "" when none does.
func (s *Stage) listed(rl *Rule, st *reqctx.State) (string, bool) {
	for j, f := range rl.Feeds {
		if rl.JA4[j] {
			if f.ListsJA4(st.JA4) {
				return f.Name(), true
			}
			continue
		}
		if f.ListsAddr(st.ClientIP) {
			return f.Name(), false
		}
	}
	return "", false
}

func (s *Stage) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Stage) count(feed, outcome string) {
	if s.Count != nil {
		s.Count(feed, outcome)
	}
}
