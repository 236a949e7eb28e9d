// Package cors is a policy's CORS handling, stage 5 of the request path:
// preflights are answered by the gateway, before authentication (a
// browser sends them without credentials), and actual cross-origin
// requests get the response headers their origin is allowed. The
// gateway owns CORS on such a policy: the upstream's Access-Control-*
// headers are replaced, and an origin that is not allowed gets none.
package cors

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Stage is one policy's CORS.
type Stage struct {
	exact       map[string]bool
	suffixes    []pattern // https://*.example.com
	any         bool
	credentials bool
	methods     []string
	methodsList string
	headers     map[string]bool // lower case
	anyHeader   bool
	headersList string
	expose      string
	maxAge      string
}

type pattern struct{ scheme, suffix, port string } // suffix ".example.com"

// New compiles a policy's cors section (validated, defaults applied).
func New(c *config.CORS) *Stage {
	s := &Stage{exact: map[string]bool{}, credentials: c.AllowCredentials, methods: c.AllowMethods,
		methodsList: strings.Join(c.AllowMethods, ", "), headers: map[string]bool{},
		expose: strings.Join(c.ExposeHeaders, ", "), maxAge: strconv.FormatInt(int64(c.MaxAge.D()/time.Second), 10)}
	for _, o := range c.AllowOrigins {
		switch {
		case o == "*":
			s.any = true
		case strings.Contains(o, "://*."):
			scheme, rest, _ := strings.Cut(o, "://*")
			host, port := rest, ""
			if i := strings.LastIndexByte(rest, ':'); i > 0 {
				host, port = rest[:i], rest[i:]
			}
			s.suffixes = append(s.suffixes, pattern{scheme: scheme, suffix: strings.ToLower(host), port: port})
		default:
			s.exact[strings.ToLower(o)] = true
		}
	}
	var names []string
	for _, h := range c.AllowHeaders {
		if h == "*" {
			s.anyHeader = true
			continue
		}
		s.headers[strings.ToLower(h)] = true
		names = append(names, h)
	}
	s.headersList = strings.Join(names, ", ")
	return s
}

// Allowed reports whether origin may call the API from a browser.
func (s *Stage) Allowed(origin string) bool {
	if origin == "" || len(origin) > 512 {
		return false
	}
	if s.any {
		return true
	}
	o := strings.ToLower(origin)
	if s.exact[o] {
		return true
	}
	for _, p := range s.suffixes {
		rest, ok := strings.CutPrefix(o, p.scheme+"://")
		if !ok {
			continue
		}
		host, port := rest, ""
		if i := strings.LastIndexByte(rest, ':'); i > 0 {
			host, port = rest[:i], rest[i:]
		}
		// One or more labels before the suffix, and nothing odd in them.
		if port == p.port && strings.HasSuffix(host, p.suffix) && len(host) > len(p.suffix) &&
			!strings.ContainsAny(host, "/@?#") && !strings.HasPrefix(host, ".") {
			return true
		}
	}
	return false
}

// allowOrigin is the Access-Control-Allow-Origin value for an allowed
// origin: "*" only for any origin without credentials.
func (s *Stage) allowOrigin(origin string) string {
	if s.any && !s.credentials {
		return "*"
	}
	return origin
}

// Name names the stage in traces and docs/architecture.md (stage 5).
func (s *Stage) Name() string { return "cors" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r) // not a cross-origin request
			return
		}
		st := reqctx.From(r.Context())
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := s.Allowed(origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			s.preflight(w, r, origin, allowed)
			return
		}
		// The gateway owns CORS here: its headers go on what the gateway
		// answers itself (a refusal) now, and replace the upstream's on
		// the response head (a response filter).
		allow := ""
		if allowed {
			allow = s.allowOrigin(origin)
		}
		s.own(h, allow)
		st.AddResponseFilter(func(h http.Header, _ *reqctx.State) {
			if !slices.Contains(h.Values("Vary"), "Origin") {
				h.Add("Vary", "Origin")
			}
			s.own(h, allow)
		})
		next.ServeHTTP(w, r)
	})
}

// own sets the CORS headers of a response to an allowed origin (allow
// is its Access-Control-Allow-Origin), or removes them ("": refused).
func (s *Stage) own(h http.Header, allow string) {
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"} {
		delete(h, k)
	}
	if allow == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", allow)
	if s.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if s.expose != "" {
		h.Set("Access-Control-Expose-Headers", s.expose)
	}
}

// preflight answers an OPTIONS preflight: 204 with the CORS headers when
// origin, method and headers are allowed; otherwise a 403 problem with
// no CORS headers, so the browser refuses the actual request.
func (s *Stage) preflight(w http.ResponseWriter, r *http.Request, origin string, allowed bool) {
	h := w.Header()
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	method := r.Header.Get("Access-Control-Request-Method")
	var refused string
	switch {
	case !allowed:
		refused = "Browsers on " + problem.Clip(origin, 100) + " may not call this API."
	case !slices.Contains(s.methods, method):
		refused = "Cross-origin " + problem.Clip(method, 20) + " requests are not allowed here; allowed: " + s.methodsList + "."
	default:
		for _, name := range requestedHeaders(r) {
			if !s.anyHeader && !s.headers[name] {
				refused = "The request header " + problem.Clip(name, 64) + " is not allowed cross-origin here."
				break
			}
		}
	}
	if refused != "" {
		reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.CORSRejected, Reason: "cors", Stage: "cors", Detail: refused +
			" If this origin should be allowed, ask the API operator to add it to the policy's CORS settings."})
		return
	}
	h.Set("Access-Control-Allow-Origin", s.allowOrigin(origin))
	h.Set("Access-Control-Allow-Methods", s.methodsList)
	if s.anyHeader && !s.credentials {
		h.Set("Access-Control-Allow-Headers", "*")
	} else if reqd := r.Header.Get("Access-Control-Request-Headers"); reqd != "" {
		h.Set("Access-Control-Allow-Headers", reqd) // each was checked above
	}
	if s.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Max-Age", s.maxAge)
	w.WriteHeader(http.StatusNoContent)
}

// requestedHeaders lists Access-Control-Request-Headers, lower case.
func requestedHeaders(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}
