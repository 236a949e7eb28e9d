// Package secheaders is the response half of header hygiene (stage 17):
// upstream headers that tell attackers what runs behind the gateway are
// removed, and security headers are added where the upstream set none.
// It runs on every route, so the defaults protect APIs whose policy says
// nothing.
package secheaders

import (
	"net/http"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// added is a header to add; its value slice is shared by every response
// (read-only: appending to a full slice copies it).
type added struct {
	name  string
	value []string
}

// Stage adds the route's response filter.
type Stage struct {
	strip        []string // canonical names
	add          []added
	cacheAuthned bool
	noStore      []string
	filter       func(http.Header, *reqctx.State) // s.apply, bound once
}

// New compiles the server's strip list and a policy's security headers
// (nil: the defaults only).
func New(strip []string, sh *config.SecurityHeaders) *Stage {
	s := &Stage{noStore: []string{"no-store"}}
	for _, h := range strip {
		s.strip = append(s.strip, http.CanonicalHeaderKey(h))
	}
	s.add = append(s.add, added{"X-Content-Type-Options", []string{"nosniff"}})
	if sh != nil {
		for _, kv := range [][2]string{{"X-Frame-Options", sh.FrameOptions}, {"Referrer-Policy", sh.ReferrerPolicy},
			{"Content-Security-Policy", sh.ContentSecurityPolicy}, {"Permissions-Policy", sh.PermissionsPolicy}} {
			if kv[1] != "" {
				s.add = append(s.add, added{kv[0], []string{kv[1]}})
			}
		}
		s.cacheAuthned = sh.CacheAuthenticated
	}
	s.filter = s.apply
	return s
}

// Name names the stage in traces and docs/architecture.md (stage 17, response headers).
func (s *Stage) Name() string { return "security_headers" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		st.AddResponseFilter(s.filter)
		next.ServeHTTP(w, r)
	})
}

// apply filters the upstream's response headers.
func (s *Stage) apply(h http.Header, st *reqctx.State) {
	for _, k := range s.strip {
		delete(h, k)
	}
	for _, a := range s.add {
		if _, set := h[a.name]; !set {
			h[a.name] = a.value[:len(a.value):len(a.value)]
		}
	}
	if st.Identity != nil && !s.cacheAuthned {
		// A response for one caller must not be kept by shared caches:
		// no-store unless the upstream already limited it to the client.
		cc := strings.ToLower(strings.Join(h["Cache-Control"], ","))
		if !strings.Contains(cc, "private") && !strings.Contains(cc, "no-store") {
			h["Cache-Control"] = s.noStore[:1:1]
		}
	}
}
