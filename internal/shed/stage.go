package shed

import (
	"net/http"

	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Stage sheds requests to one upstream by priority under its Limiter.
// It runs last before the request goes upstream, after everything that
// may refuse a request, so the limit counts only requests the upstream
// will see.
type Stage struct {
	L        *Limiter
	Upstream string
	// Priority is the policy's priority; PolicySet says whether the
	// policy gave one.
	Priority  Priority
	PolicySet bool
	Count     func(priority string) // a shed request; may be nil
}

// PriorityOf is the request's priority: the consumer's priority
// attribute when it has a valid one, else the policy's, else normal for
// an authenticated caller and low for an anonymous one, so anonymous
// traffic is shed first.
func (s *Stage) PriorityOf(st *reqctx.State) Priority {
	if id := st.Identity; id != nil {
		if p, ok := ParsePriority(id.Attributes["priority"]); ok {
			return p
		}
	}
	switch {
	case s.PolicySet:
		return s.Priority
	case st.Identity == nil:
		return Low
	}
	return Normal
}

// Name names the stage in traces and docs/architecture.md (adaptive load shedding, before the WAF).
func (s *Stage) Name() string { return "load_shedding" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		p := s.PriorityOf(st)
		if !s.L.Acquire(p) {
			if s.Count != nil {
				s.Count(p.String())
			}
			reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.Overloaded, Reason: "load_shed", Stage: "load_shedding", Rule: s.Upstream,
				Detail: "The service is answering slower than usual, so the gateway admits fewer requests to it and " + p.String() +
					"-priority requests are being turned away first. Retry after the time in Retry-After, with backoff.",
				Header: map[string]string{"Retry-After": "1"}})
			return
		}
		defer func() { s.L.Release(st.UpstreamTime) }()
		next.ServeHTTP(w, r)
	})
}
