package ratelimit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Store keeps TATs. Memory is node-local; a shared store lets several
// gateways enforce one limit.
type Store interface {
	Take(ctx context.Context, key Key, l Limit, now int64) Result
	// Shared reports whether the store is shared between nodes: then it
	// needs Key.Shared.
	Shared() bool
}

type partKind uint8

const (
	partConsumer partKind = iota
	partIP
	partRoute
	partHeader
	partClaim
)

type part struct {
	kind partKind
	name string // header or claim name
}

// Rule is one compiled rate limit.
type Rule struct {
	Name   string
	Limit  Limit
	Shadow bool
	N      int64         // the configured count ...
	Per    time.Duration // ... per this period, for RateLimit-Policy
	parts  []part
	id     string // what makes the budget this rule's: policy, definition, and route when scoped to one
	quoted string // Name as the RateLimit header quotes it
}

// policyWindow is the rule as RateLimit-Policy states it: q requests per
// w seconds, where RateLimit's r (the requests that would be admitted now,
// at most the burst) never exceeds q. A rate of N per period with a burst
// B above N is the budget of a full bucket, B, refilled in B/N periods:
// 5/s with burst 10 is q=10;w=2, never q=5 beside r=9.
func (r *Rule) policyWindow() (q, w int64) {
	per := max(int64(r.Per/time.Second), 1)
	q = max(r.N, r.Limit.Burst, 1)
	n := max(r.N, 1)
	return q, (q*per + n - 1) / n
}

// quotedName is Name as the RateLimit headers quote it: computed once by
// Compile, quoted here for a Rule made otherwise.
func (r *Rule) quotedName() string {
	if r.quoted != "" {
		return r.quoted
	}
	return strconv.Quote(r.Name)
}

// PreAuth reports whether the rule's key needs no identity, so the rule
// can run before authentication (stage 7) and protect it.
func (r *Rule) PreAuth() bool { return preAuth(r.parts) }

// preAuth reports whether parts need no identity.
func preAuth(parts []part) bool {
	for _, p := range parts {
		if p.kind == partConsumer || p.kind == partClaim {
			return false
		}
	}
	return true
}

// Compile builds the rule of limit i of policy; route is set when the
// limit's scope is route.
func Compile(policy string, i int, rl *config.RateLimit, route string) (*Rule, error) {
	r := &Rule{Name: rl.DisplayName(), Limit: Limit{Interval: rl.Rate.Interval(), Burst: max(rl.Burst, 1)}, Shadow: rl.Mode == "shadow",
		N: rl.Rate.N, Per: rl.Rate.Per}
	r.quoted = strconv.Quote(r.Name)
	if r.Limit.Interval <= 0 {
		return nil, fmt.Errorf("rate %s is too fast: at most 1e9 per second", rl.Rate)
	}
	parts, err := parseKey(rl.Key)
	if err != nil {
		return nil, err
	}
	r.parts = parts
	r.id = fmt.Sprintf("%s\x00%d\x00%s\x00%s\x00%d\x00%s", policy, i, rl.Key, rl.Rate, r.Limit.Burst, route)
	return r, nil
}

// appendKey appends the rule's identity and the request's key values.
func (r *Rule) appendKey(b []byte, req *http.Request, st *reqctx.State) []byte {
	return appendKey(b, r.id, r.parts, req, st)
}

// appendKey appends id and the request's values of parts.
func appendKey(b []byte, id string, parts []part, req *http.Request, st *reqctx.State) []byte {
	b = append(b, id...)
	for _, p := range parts {
		b = append(b, 0)
		switch p.kind {
		case partConsumer:
			b = append(b, st.Consumer...)
		case partIP:
			b = append(b, st.AccessRecord.ClientIP...)
		case partRoute:
			b = append(b, st.Route...)
		case partHeader:
			if v := req.Header[p.name]; len(v) > 0 {
				b = append(b, v[0]...)
			}
		case partClaim:
			if id := st.Identity; id != nil {
				switch v := id.Claims[p.name].(type) {
				case string:
					b = append(b, v...)
				case nil:
				default:
					b = fmt.Append(b, v) // numbers, lists: rare
				}
			}
		}
	}
	return b
}

// Key is a request's key for one rule, as a store needs it.
type Key struct {
	Local  uint64   // maphash with a per-process seed: no client can aim two keys at one budget
	Shared [16]byte // SHA-256, the same on every node, collision-free in practice
}

// parseKey reads a key spec: parts joined with +.
func parseKey(spec string) ([]part, error) {
	var parts []part
	for _, p := range strings.Split(spec, "+") {
		kind, name, _ := strings.Cut(p, ":")
		switch kind {
		case "consumer":
			parts = append(parts, part{kind: partConsumer})
		case "ip":
			parts = append(parts, part{kind: partIP})
		case "route":
			parts = append(parts, part{kind: partRoute})
		case "header":
			parts = append(parts, part{kind: partHeader, name: http.CanonicalHeaderKey(name)})
		case "claim":
			parts = append(parts, part{kind: partClaim, name: name})
		default:
			return nil, fmt.Errorf("unknown key part %q", p)
		}
	}
	return parts, nil
}

// key computes the rule's key for req: the node-local form, or with
// shared the cross-node one. Keys of usual size are built on the stack.
func (r *Rule) key(seed maphash.Seed, req *http.Request, st *reqctx.State, shared bool) Key {
	var buf [512]byte
	return hashKey(seed, r.appendKey(buf[:0], req, st), shared)
}

// hashKey hashes key material for a store.
func hashKey(seed maphash.Seed, b []byte, shared bool) Key {
	var k Key
	if shared {
		sum := sha256.Sum256(b)
		copy(k.Shared[:], sum[:16])
		return k
	}
	k.Local = maphash.Bytes(seed, b)
	return k
}

// Stage enforces rules; stage 7 holds a policy's pre-auth rules, stage 11
// the others.
type Stage struct {
	Rules  []*Rule
	Store  Store
	Seed   maphash.Seed
	Now    func() time.Time
	Count  func(rule, outcome string) // admitted, refused, shadow_refused; may be nil
	policy string                     // RateLimit-Policy, computed once
	shared bool
}

// NewStage returns a stage for rules.
func NewStage(rules []*Rule, store Store, seed maphash.Seed, count func(rule, outcome string)) *Stage {
	s := &Stage{Rules: rules, Store: store, Seed: seed, Now: time.Now, Count: count, shared: store.Shared()}
	var items []string
	for _, r := range rules {
		if !r.Shadow {
			q, w := r.policyWindow()
			items = append(items, fmt.Sprintf("%s;q=%d;w=%d", r.quotedName(), q, w))
		}
	}
	s.policy = strings.Join(items, ", ")
	return s
}

// Name names the stage in traces and docs/architecture.md (stages 7 and 11, rate limits).
func (s *Stage) Name() string { return "rate_limit" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		now := s.Now().UnixNano()
		var tightest *Rule
		var tight Result
		for _, rule := range s.Rules {
			res := s.Store.Take(r.Context(), rule.key(s.Seed, r, st, s.shared), rule.Limit, now)
			switch {
			case !res.Allowed && rule.Shadow:
				s.count(rule.Name, "shadow_refused")
				st.Events.Publish(observe.Event{Type: "ratelimit.shadow", Reason: "rate_limited", Stage: "rate_limit", Rule: rule.Name,
					Detail: "A shadow limit would have refused this request.", Consumer: st.Consumer, ClientIP: st.ClientIP.String(),
					RequestID: st.RequestID, Route: st.Route, Method: r.Method, Path: st.Path})
			case !res.Allowed:
				s.count(rule.Name, "refused")
				s.setHeaders(w.Header(), rule, 0, res.Reset)
				retry := strconv.FormatInt(seconds(res.RetryAfter), 10)
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.RateLimited, Reason: "rate_limited", Stage: "rate_limit", Rule: rule.Name,
					Detail: "Too many requests: the limit " + rule.Name + " allows " + strconv.FormatInt(rule.N, 10) + " per " + per(rule.Per) +
						". Retry after " + retry + " s, and spread requests out.", Header: map[string]string{"Retry-After": retry}})
				return
			default:
				s.count(rule.Name, "admitted")
				if !rule.Shadow && (tightest == nil || res.Remaining < tight.Remaining) {
					tightest, tight = rule, res
				}
			}
		}
		if tightest != nil {
			s.setHeaders(w.Header(), tightest, tight.Remaining, tight.Reset)
		}
		next.ServeHTTP(w, r)
	})
}

// setHeaders sets RateLimit-Policy (when a rule is enforced) and
// RateLimit for rule (draft-ietf-httpapi-ratelimit-headers): the value
// is built without fmt, and the two headers share one slice of values.
func (s *Stage) setHeaders(h http.Header, rule *Rule, remaining int64, reset time.Duration) {
	var buf [64]byte
	b := append(buf[:0], rule.quotedName()...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, remaining, 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, seconds(reset), 10)
	vals := []string{s.policy, string(b)}
	if s.policy != "" {
		h["Ratelimit-Policy"] = vals[0:1:1] // canonical keys: Set would canonicalise, and allocate, per request
	}
	h["Ratelimit"] = vals[1:2:2]
}

func (s *Stage) count(rule, outcome string) {
	if s.Count != nil {
		s.Count(rule, outcome)
	}
}

// seconds rounds up, and is at least 1: a client told 0 retries at once.
func seconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

func per(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return "day"
}
