package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/accessreview"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/threatintel"
	"github.com/rampart-gw/rampart/internal/webui"
)

// Path is where the dashboard is served on the admin listener.
const Path = "/dashboard"

// Source is what the dashboard reads from, and changes in, the gateway.
type Source interface {
	Bans(ctx context.Context) ([]ratelimit.Ban, error)
	LiftBan(ctx context.Context, id string) (bool, error)
	Health() []observe.TargetHealth
	Reloads() []Reload
	// Publish records the dashboard's actions (admin.*) as security
	// events, which the audit trail keeps.
	Publish(e observe.Event)
	// Token is the admin token; "" when the admin API has none.
	Token() string
	// ThreatFeeds is the threat-intelligence feeds' state.
	ThreatFeeds() []threatintel.Status
	// AccessReview builds the access review of the consumers in the
	// config and the store.
	AccessReview(ctx context.Context) (*accessreview.Report, error)
}

// Reload is one config load attempt.
type Reload struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"`
	OK      bool      `json:"ok"`
	Errors  []string  `json:"errors,omitempty"` // file:line:col: message
	Message string    `json:"message,omitempty"`
}

// SessionTTL is how long a dashboard sign-in lasts.
const SessionTTL = 8 * time.Hour

// maxSessions bounds the sign-ins kept; the oldest goes first.
const maxSessions = 1000

// Handler serves the dashboard. A browser signs in once with the admin
// token and gets a session cookie (HttpOnly, SameSite=Strict, scoped to
// the dashboard); scripts may send the token as a bearer instead.
type Handler struct {
	src  Source
	rec  *Recorder
	csrf *webui.CSRF
	mux  *http.ServeMux

	mu       sync.Mutex
	sessions map[[32]byte]time.Time // session digest -> expiry
	failures map[string]*failures   // wrong sign-ins by client address; under mu
}

// failures counts one address's wrong sign-ins in the current minute.
type failures struct {
	n     int
	since time.Time
}

// Sign-in guessing is bounded: MaxFailures wrong tokens per address per
// minute, then 429 until the minute is over.
const (
	MaxFailures   = 5
	failureWindow = time.Minute
)

// guessing reports how long host must wait before its next sign-in, or 0.
func (h *Handler) guessing(host string, now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.failures[host]
	if f == nil || now.Sub(f.since) >= failureWindow || f.n < MaxFailures {
		return 0
	}
	return f.since.Add(failureWindow).Sub(now)
}

// failed counts a wrong sign-in from host.
func (h *Handler) failed(host string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.failures) >= maxSessions { // bounded: forget windows that are over
		for k, f := range h.failures {
			if now.Sub(f.since) >= failureWindow {
				delete(h.failures, k)
			}
		}
	}
	f := h.failures[host]
	if f == nil || now.Sub(f.since) >= failureWindow {
		if f == nil && len(h.failures) >= maxSessions {
			return
		}
		f = &failures{since: now}
		h.failures[host] = f
	}
	f.n++
}

//go:embed templates static
var files embed.FS

var pages = template.Must(template.ParseFS(files, "templates/*.html"))

// New returns the dashboard over src and rec.
func New(src Source, rec *Recorder) *Handler {
	h := &Handler{src: src, rec: rec, csrf: webui.NewCSRF("rampart_dashboard_csrf", Path), mux: http.NewServeMux(), sessions: map[[32]byte]time.Time{}, failures: map[string]*failures{}}
	static, _ := fs.Sub(files, "static")
	h.mux.Handle("GET "+Path+"/static/", http.StripPrefix(Path+"/static/", http.FileServerFS(static)))
	h.mux.Handle("GET "+Path+"/ui/", webui.Assets(Path+"/ui/"))
	h.mux.HandleFunc("GET "+Path, h.page)
	h.mux.HandleFunc("POST "+Path+"/login", h.login)
	h.mux.HandleFunc("POST "+Path+"/logout", h.logout)
	h.mux.Handle("GET "+Path+"/api/data", h.signedIn(http.HandlerFunc(h.data)))
	h.mux.Handle("GET "+Path+"/api/access-review", h.signedIn(http.HandlerFunc(h.review)))
	h.mux.Handle("POST "+Path+"/api/bans/{id}/lift", h.signedIn(h.guarded(http.HandlerFunc(h.lift))))
	return h
}

// ServeHTTP serves everything under Path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	webui.Secure(w.Header())
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.problem(w, problem.New(problem.NotFound, "The dashboard has no "+problem.Clip(r.Method, 20)+" "+problem.Clip(r.URL.Path, 200)+"; open "+Path+"."))
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) problem(w http.ResponseWriter, p *problem.Problem) {
	problem.Write(w, p, w.Header().Get("X-Request-Id"))
}

// authorized reports whether r is signed in: a live session cookie, the
// admin token as a bearer, or no admin token configured at all.
func (h *Handler) authorized(r *http.Request) bool {
	want := h.src.Token()
	if want == "" {
		return true
	}
	if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return webui.SameToken(got, want)
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	d := sha256.Sum256([]byte(ck.Value))
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.sessions[d]
	if ok && time.Now().After(exp) {
		delete(h.sessions, d)
		return false
	}
	return ok
}

const sessionCookie = "rampart_dashboard"

func (h *Handler) signedIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			h.problem(w, problem.New(problem.Unauthorized, "Sign in to the dashboard at "+Path+" with the admin token, or send it as Authorization: Bearer <token>."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// guarded refuses state-changing calls without the page's CSRF token.
func (h *Handler) guarded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := h.csrf.Check(r); why != "" {
			h.action(w, r, "csrf_refused", "", why)
			h.problem(w, problem.New(problem.CSRFRefused, why))
			return
		}
		next.ServeHTTP(w, r)
	})
}

type page struct {
	Title, CSRF, Error string
	SignOut            bool
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, pg page) {
	pg.CSRF = h.csrf.Token(w, r)
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, pg); err != nil {
		h.problem(w, problem.New(problem.Internal, "The dashboard page could not be rendered; see the gateway log."))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.render(w, r, http.StatusOK, "login.html", page{Title: "Sign in"})
		return
	}
	h.render(w, r, http.StatusOK, "dashboard.html", page{Title: "Security dashboard", SignOut: h.src.Token() != ""})
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		h.problem(w, problem.New(problem.BadRequest, "The sign-in form could not be read; reload "+Path+" and try again."))
		return
	}
	if why := h.csrf.Valid(r, r.PostForm.Get("csrf")); why != "" {
		h.action(w, r, "csrf_refused", "", why)
		h.problem(w, problem.New(problem.CSRFRefused, why))
		return
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	now := time.Now()
	if wait := h.guessing(host, now); wait > 0 {
		secs := int(wait.Seconds()) + 1
		h.action(w, r, "auth_throttled", "", "Sign-ins to the security dashboard from this address are refused for a while after repeated wrong admin tokens.")
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.problem(w, problem.New(problem.RateLimited, fmt.Sprintf("%d wrong admin tokens from this address within a minute; sign in again in %d s.", MaxFailures, secs)))
		return
	}
	want := h.src.Token()
	if want == "" || !webui.SameToken(r.PostForm.Get("token"), want) {
		if want != "" {
			h.failed(host, now)
			h.action(w, r, "auth_failed", "", "A sign-in to the security dashboard gave a wrong admin token.")
		}
		h.render(w, r, http.StatusUnauthorized, "login.html", page{Title: "Sign in", Error: "That is not the admin token."})
		return
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	v := base64.RawURLEncoding.EncodeToString(raw[:])
	h.mu.Lock()
	for d, exp := range h.sessions {
		if now.After(exp) || len(h.sessions) >= maxSessions {
			delete(h.sessions, d)
		}
	}
	h.sessions[sha256.Sum256([]byte(v))] = now.Add(SessionTTL)
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: Path, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL.Seconds())})
	h.action(w, r, "dashboard_signed_in", "", "Someone signed in to the security dashboard with the admin token.")
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if why := h.csrf.Valid(r, r.FormValue("csrf")); why != "" {
		h.problem(w, problem.New(problem.CSRFRefused, why))
		return
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		h.mu.Lock()
		delete(h.sessions, sha256.Sum256([]byte(ck.Value)))
		h.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: Path, HttpOnly: true, MaxAge: -1, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Path, http.StatusSeeOther)
}

// Data is the dashboard's one data call.
type Data struct {
	View
	Bans     []ratelimit.Ban        `json:"bans"`
	BansErr  string                 `json:"bans_error,omitempty"`
	Upstream []observe.TargetHealth `json:"upstreams"`
	Reloads  []Reload               `json:"reloads"`
	Feeds    []threatintel.Status   `json:"threat_feeds"`
}

func (h *Handler) data(w http.ResponseWriter, r *http.Request) {
	d := Data{View: h.rec.View(), Upstream: h.src.Health(), Reloads: h.src.Reloads(), Feeds: h.src.ThreatFeeds()}
	bans, err := h.src.Bans(r.Context())
	if err != nil {
		d.BansErr = "The ban list could not be read from the shared state: " + err.Error()
	}
	d.Bans = bans
	if d.Bans == nil {
		d.Bans = []ratelimit.Ban{}
	}
	if d.Upstream == nil {
		d.Upstream = []observe.TargetHealth{}
	}
	if d.Reloads == nil {
		d.Reloads = []Reload{}
	}
	if d.Feeds == nil {
		d.Feeds = []threatintel.Status{}
	}
	webui.WriteJSON(w, http.StatusOK, d)
}

// review serves the access review as JSON, or as CSV with ?format=csv
// (a download for a spreadsheet).
func (h *Handler) review(w http.ResponseWriter, r *http.Request) {
	rep, err := h.src.AccessReview(r.Context())
	if err != nil {
		h.problem(w, problem.New(problem.Unavailable, "The access review could not be built: "+err.Error()+"."))
		return
	}
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="access-review.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		_ = rep.WriteCSV(w)
		return
	}
	webui.WriteJSON(w, http.StatusOK, rep)
}

func (h *Handler) lift(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ok, err := h.src.LiftBan(r.Context(), id)
	switch {
	case err != nil:
		w.Header().Set("Retry-After", "1")
		h.problem(w, problem.New(problem.Unavailable, "The ban could not be lifted in the shared state: "+err.Error()+". Retry shortly."))
	case !ok:
		h.problem(w, problem.New(problem.NotFound, "No key with this id is banned now (the ban may have ended meanwhile); reload the dashboard."))
	default:
		h.action(w, r, "ban_lifted", id, "A graduated-response ban was lifted from the security dashboard.")
		w.WriteHeader(http.StatusNoContent)
	}
}

// action publishes an admin.* event for something done on the dashboard.
func (h *Handler) action(w http.ResponseWriter, r *http.Request, typ, subject, detail string) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	h.src.Publish(observe.Event{Type: "admin." + typ, Stage: "dashboard", Rule: subject, Detail: detail, ClientIP: host,
		RequestID: w.Header().Get("X-Request-Id"), Method: r.Method, Path: r.URL.Path})
}
