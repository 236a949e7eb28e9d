// Package bots is a policy's bot defence, stage 6 of the request path:
// good bots verified by address range or reverse DNS are let through,
// then rules (CEL conditions over the client's fingerprints) flag,
// challenge or block. A challenge is a proof-of-work page for browsers
// (see challenge.go) and a 403 problem for other clients.
package bots

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/authz/condition"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Resolver is what good-bot verification asks of DNS.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

type rule struct {
	name   string
	action string
	cond   *condition.Condition
}

type goodBot struct {
	name    string
	ua      string
	domains []string
	cidrs   []netip.Prefix
}

// Stage is one policy's bot defence.
type Stage struct {
	policy         string
	rules          []rule
	good           []goodBot
	challenge      *Challenge
	resolver       Resolver
	verified       *DNSCache
	anomaly        *Anomaly
	blockAnomalies bool
	Now            func() time.Time
	Count          func(rule, outcome string) // flagged, challenged, blocked, passed, good_bot; may be nil
}

// Options are the stage's dependencies.
type Options struct {
	Once     ratelimit.Once // the challenge replay guard
	Resolver Resolver       // default net.DefaultResolver
	DNS      *DNSCache      // shared verification cache; default a new one
	Count    func(rule, outcome string)
}

// New compiles a policy's bots section (validated, defaults applied).
func New(policy string, b *config.Bots, o Options) (*Stage, error) {
	s := &Stage{policy: policy, resolver: o.Resolver, Now: time.Now, Count: o.Count}
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	s.verified = o.DNS
	if s.verified == nil {
		s.verified = NewDNSCache()
	}
	for _, r := range b.Rules {
		c, issues := condition.Compile(r.When)
		if len(issues) > 0 {
			return nil, fmt.Errorf("bot rule %s: condition: %s", r.Name, issues[0].Msg)
		}
		s.rules = append(s.rules, rule{name: r.Name, action: r.Action, cond: c})
	}
	for _, g := range b.GoodBots {
		gb := goodBot{name: g.Name, ua: g.UserAgent, domains: g.Domains}
		for _, c := range g.CIDRs {
			if p, err := config.ParsePrefix(c); err == nil {
				gb.cidrs = append(gb.cidrs, p)
			}
		}
		s.good = append(s.good, gb)
	}
	if a := b.Anomaly; a != nil {
		s.anomaly = NewAnomaly(a.Factor, float64(a.MinRate.N)/a.MinRate.Per.Seconds(), 0)
		s.blockAnomalies = a.Action == "block"
	}
	if c := b.Challenge; c != nil {
		s.challenge = NewChallenge([]byte(c.Secret.Value()), c.Difficulty, c.TTL.D(), o.Once)
	}
	return s, nil
}

// Check compiles every bot rule's condition (config.Check), reporting
// each issue where it is in the file.
func Check(cfg *config.Config) config.Errors {
	var errs config.Errors
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		p := cfg.Policies[name]
		if p == nil || p.Bots == nil {
			continue
		}
		for i, r := range p.Bots.Rules {
			if r != nil && r.When != "" {
				errs = append(errs, condition.Check(cfg, fmt.Sprintf("policies.%s.bots.rules[%d].when", name, i), r.When)...)
			}
		}
	}
	return errs
}

// Name names the stage in traces and docs/architecture.md (stage 6, bot checks).
func (s *Stage) Name() string { return "bots" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		if name := s.goodBot(r, st); name != "" {
			s.count(name, "good_bot")
			next.ServeHTTP(w, r)
			return
		}
		if s.anomaly != nil {
			if bad, rate, median := s.anomaly.Observe(st.ClientIP, s.Now().UnixNano()); bad {
				st.Offence = "rate-anomaly"
				detail := fmt.Sprintf("This address sends %.1f requests/s; the median of active addresses is %.1f.", rate, median)
				if s.blockAnomalies {
					s.count("anomaly", "blocked")
					reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.RateLimited, Reason: "rate_anomaly", Stage: "bots", Rule: "anomaly",
						Detail: detail + " Slow down to a rate like other clients'; retry after the time in Retry-After.", Header: map[string]string{"Retry-After": "10"}})
					return
				}
				s.count("anomaly", "flagged")
				s.event(r, st, "bot.anomaly", "anomaly", detail)
			}
		}
		in := condition.Input{Request: r, Path: r.URL.Path, Match: &st.Match, ClientIP: st.AccessRecord.ClientIP, Now: s.Now(), JA4: st.JA4}
		for _, rl := range s.rules {
			if rl.cond == nil {
				continue
			}
			hit, err := rl.cond.Eval(&in)
			if err != nil || !hit {
				continue // a rule that cannot be evaluated does not match
			}
			switch rl.action {
			case "flag":
				s.count(rl.name, "flagged")
				s.event(r, st, "bot.flag", rl.name, "A bot rule matched; the request goes on.")
			case "block":
				s.count(rl.name, "blocked")
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.BotBlocked, Reason: "bot", Stage: "bots", Rule: rl.name,
					Detail: "Refused by the bot rule " + rl.name + ". If you are not a bot, contact the API operator with the request id."})
				return
			case "challenge":
				if s.challenge.Demand(w, r, st, s.Now(), "bots", rl.name, "This client looks automated (rule "+rl.name+")",
					func(outcome string) { s.count(rl.name, outcome) }) {
					continue
				}
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Stage) count(rule, outcome string) {
	if s.Count != nil {
		s.Count(rule, outcome)
	}
}

func (s *Stage) event(r *http.Request, st *reqctx.State, typ, rule, detail string) {
	publish(r, st, typ, "bots", rule, detail)
}

func publish(r *http.Request, st *reqctx.State, typ, stage, rule, detail string) {
	st.Events.Publish(observe.Event{Type: typ, Reason: "bot", Stage: stage, Rule: rule, Detail: detail, Consumer: st.Consumer,
		ClientIP: st.ClientIP.String(), RequestID: st.RequestID, Route: st.Route, Method: r.Method, Path: st.Path})
}

// acceptsHTML reports a client that would render an HTML page: a
// browser navigating says so in Accept.
func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// goodBot returns the name of the verified good bot making r, or "".
func (s *Stage) goodBot(r *http.Request, st *reqctx.State) string {
	if len(s.good) == 0 {
		return ""
	}
	ip := st.ClientIP.Unmap()
	ua := r.UserAgent()
	for _, g := range s.good {
		if g.ua != "" && !strings.Contains(ua, g.ua) {
			continue
		}
		for _, p := range g.cidrs {
			if p.Contains(ip) {
				return g.name
			}
		}
		if len(g.domains) > 0 && s.verified.Verify(r.Context(), s.resolver, ip, g.domains, s.Now()) {
			return g.name
		}
	}
	return ""
}

// DNSCache remembers reverse-DNS verifications for an hour (failures
// for five minutes), so a claimed crawler costs at most one lookup pair
// per address and hour. It is bounded: when full, it forgets everything
// (a cache, not a record).
type DNSCache struct {
	mu sync.Mutex
	m  map[dnsKey]dnsEntry
}

type dnsKey struct {
	ip      netip.Addr
	domains string
}

type dnsEntry struct {
	ok  bool
	exp time.Time
}

// NewDNSCache returns an empty cache.
func NewDNSCache() *DNSCache { return &DNSCache{m: map[dnsKey]dnsEntry{}} }

const dnsCacheMax = 65536

// Verify reports whether ip's reverse DNS name is in one of domains and
// resolves back to ip (forward-confirmed reverse DNS, as search engines
// document for verifying their crawlers).
func (c *DNSCache) Verify(ctx context.Context, res Resolver, ip netip.Addr, domains []string, now time.Time) bool {
	k := dnsKey{ip, strings.Join(domains, ",")}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.ok
	}
	verified := fcrdns(ctx, res, ip, domains)
	ttl := time.Hour
	if !verified {
		ttl = 5 * time.Minute
	}
	c.mu.Lock()
	if len(c.m) >= dnsCacheMax {
		clear(c.m)
	}
	c.m[k] = dnsEntry{ok: verified, exp: now.Add(ttl)}
	c.mu.Unlock()
	return verified
}

func fcrdns(ctx context.Context, res Resolver, ip netip.Addr, domains []string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	names, err := res.LookupAddr(ctx, ip.String())
	if err != nil {
		return false
	}
	for _, name := range names {
		name = strings.TrimSuffix(strings.ToLower(name), ".")
		if !slices.ContainsFunc(domains, func(d string) bool { return name == d || strings.HasSuffix(name, "."+d) }) {
			continue
		}
		addrs, err := res.LookupIPAddr(ctx, name)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
