// Package admin serves the admin API: health, readiness, the serving
// config (secrets shown as references only), reload status and metrics.
// Every call needs the bearer token when one is configured.
package admin

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/rampart-gw/rampart/internal/accessreview"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/dashboard"
	"github.com/rampart-gw/rampart/internal/gateway"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/store"
	"github.com/rampart-gw/rampart/internal/webui"
)

// Source is what the admin API reads from the gateway.
type Source interface {
	Config() *config.Config
	Status() gateway.ReloadStatus
	Ready() bool
	Reload(source string) error
	// JWKS serves the public keys of the identity assertion.
	JWKS() http.Handler
	Bans
	Quotas
	Dashboard
	ThreatFeeds
	// AccessReview builds the access review of the serving config's
	// consumers and store.
	AccessReview(ctx context.Context) (*accessreview.Report, error)
	// PurgeCache removes a route's cached responses ("" for every
	// route's), those under a path prefix (or to exactly that path) and
	// with a Cache-Tag when given, and returns how many it removed.
	PurgeCache(route, pathPrefix string, exact bool, tag string) int
	// Publish puts an event on the gateway's bus: admin actions are
	// security events (admin.*), and go into the audit trail.
	Publish(e observe.Event)
	// Redactor masks what the admin API's JSON output must not show.
	Redactor() *observe.Redactor
	// OpenStore opens the store a config names, by its driver.
	OpenStore(ctx context.Context, cfg *config.Config) (store.Driver, error)
}

// action publishes an admin.* event for an action taken through the API.
func action(g Source, r *http.Request, typ, subject, consumer, detail string) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	g.Publish(observe.Event{Type: "admin." + typ, Stage: "admin", Rule: subject, Consumer: consumer, Detail: detail,
		ClientIP: host, RequestID: requestID(r), Method: r.Method, Path: r.URL.Path})
}

// JWKSPath is where upstreams fetch the keys that verify
// X-Rampart-Assertion; it is the one admin path without the token.
const JWKSPath = "/.well-known/jwks.json"

// Handler returns the admin API.
func Handler(g Source, metrics http.Handler, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+JWKSPath, g.JWKS())
	keys := &keysAPI{g: g, open: g.OpenStore, log: log}
	keys.routes(mux)
	keys.consumerRoutes(mux)
	keys.grantRoutes(mux)
	banRoutes(mux, g)
	cacheRoutes(mux, g)
	quotaRoutes(mux, g)
	threatRoutes(mux, g)
	mux.HandleFunc("GET /access-review", func(w http.ResponseWriter, r *http.Request) {
		rep, err := g.AccessReview(r.Context())
		if err != nil {
			unavailable(w, r, "The access review could not be built: "+err.Error()+".")
			return
		}
		if r.URL.Query().Get("format") == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			_ = rep.WriteCSV(w)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
	dash := dashboardRoutes(mux, g)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !g.Ready() {
			unavailable(w, r, "The gateway is draining and takes no new traffic.")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, g.Config())
	})
	mux.HandleFunc("GET /config/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, g.Status())
	})
	mux.HandleFunc("POST /config/reload", func(w http.ResponseWriter, _ *http.Request) {
		err := g.Reload("admin")
		st := g.Status()
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, st)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.Handle("GET /metrics", metrics)
	// Profiles for operators, behind the admin token like everything here.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, problem.New(problem.NotFound, "The admin API serves /healthz, /readyz, /config, /config/status, POST /config/reload, /metrics, /keys, /consumers, /grants, /access-review, /bans, /threat-intel/feeds, /dashboard and "+JWKSPath+"."))
	})
	return authenticate(g, dash, redacted(g.Redactor(), mux))
}

// redacted runs every JSON answer through the gateway's redaction, as the
// logs and events are: what the detectors find (an email address in a
// consumer's attributes) is masked. Secrets are never in the output to
// begin with: the config shows env:/file: references, keys their ids.
func redacted(red *observe.Redactor, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&redactingWriter{ResponseWriter: w, red: red}, r)
	})
}

type redactingWriter struct {
	http.ResponseWriter
	red *observe.Redactor
}

func (rw *redactingWriter) Write(p []byte) (int, error) {
	if strings.HasPrefix(rw.Header().Get("Content-Type"), "application/json") {
		q := append([]byte(nil), p...)
		rw.red.Bytes(q)
		p = q
	}
	return rw.ResponseWriter.Write(p)
}

// Unwrap lets handlers reach the connection (pprof sets deadlines).
func (rw *redactingWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

func authenticate(g Source, dash bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := gateway.NewRequestID()
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, requestInfo{id: id, problemBase: adminProblemBase(g.Config())}))
		want := g.Config().Admin.Token.Value()
		// Public keys are public; the dashboard signs browsers in itself.
		if want != "" && r.URL.Path != JWKSPath && !(dash && webui.Under(r.URL.Path, dashboard.Path)) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !webui.SameToken(got, want) {
				action(g, r, "auth_failed", "", "", "A call to the admin API came without the admin token, or with a wrong one.")
				p := problem.New(problem.Unauthorized, "The admin API needs the admin token: send Authorization: Bearer <token>.")
				p.With("WWW-Authenticate", `Bearer realm="rampart-admin"`)
				writeProblem(w, r, p)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type requestIDKey struct{}

// requestInfo is what the admin API keeps of a request in its context.
type requestInfo struct {
	id          string
	problemBase string
}

func requestID(r *http.Request) string {
	ri, _ := r.Context().Value(requestIDKey{}).(requestInfo)
	return ri.id
}

// writeProblem answers with p, its type under the configured base.
func writeProblem(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	ri, _ := r.Context().Value(requestIDKey{}).(requestInfo)
	problem.Write(w, p.Rebase(ri.problemBase), ri.id)
}

// adminProblemBase is problems.type_base when it is an absolute URI: a
// path (the portal's pages) means nothing on the admin listener, whose
// problems keep problem.DefaultBase then.
func adminProblemBase(cfg *config.Config) string {
	if b := cfg.Problems.TypeBase; strings.Contains(b, ":") && !strings.HasPrefix(b, "/") {
		return b
	}
	return ""
}

// writeJSON answers the admin API's JSON.
var writeJSON = webui.WriteJSON
