// Package portal serves the developer portal: the APIs a consumer can
// call (every route with an OpenAPI description, rendered by Swagger UI
// from its embedded module), a try-it console that sends real requests
// through the gateway with the visitor's own credential, a page for each
// problem type, and consumer self-service (own keys, quota usage, key
// rotation). Everything it shows comes from the config the gateway
// enforces; every page is sent under a strict Content-Security-Policy.
package portal

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	swaggerui "github.com/swaggest/swgui/v5/static"
	"github.com/vearutop/statigz"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/route"
	"github.com/rampart-gw/rampart/internal/store"
	"github.com/rampart-gw/rampart/internal/webui"
)

// KeyStore is what self-service reads and changes of API keys.
type KeyStore interface {
	ListKeys(ctx context.Context, consumer string) ([]store.Key, error)
	// Rotate issues a replacement for key id; the old one keeps working
	// for overlap. It returns the new key's secret, shown once.
	Rotate(ctx context.Context, id string, overlap time.Duration) (plain string, next, old store.Key, err error)
	// LastUsed is when this node last accepted the key.
	LastUsed(id string) time.Time
}

// Options are the portal's dependencies.
type Options struct {
	Config *config.Config
	// Rules are the routes' match rules (route.Rules), Documents the
	// policies' OpenAPI documents (schema.Documents), as the snapshot
	// compiled them.
	Rules     []route.Rule
	Documents map[string]*openapi3.T
	// RouteDocuments describe routes by name (a transcoded route's
	// operations, made from its descriptor set), over their policy's.
	RouteDocuments map[string]*openapi3.T
	// Authenticators says how clients present each type's credentials.
	Authenticators *authn.Kinds
	// Authenticate wraps self-service calls in the authentication of
	// portal.policy; nil turns self-service off.
	Authenticate func(http.Handler) http.Handler
	// Keys is the API-key store; nil without one.
	Keys KeyStore
	// Quotas reads a consumer's quota usage.
	Quotas func(ctx context.Context, consumer string) ([]ratelimit.QuotaUsage, error)
	// Publish records self-service actions as security events.
	Publish func(observe.Event)
	// CSRF guards the state-changing calls; it outlives reloads.
	CSRF *webui.CSRF
}

// RotationOverlap is how long a key replaced through self-service keeps
// working, so the consumer can deploy the new one.
const RotationOverlap = 24 * time.Hour

// Portal serves the portal under its base path.
type Portal struct {
	o        Options
	base     string
	title    string
	apis     []*API
	byRoute  map[string]*API
	creds    []Credential // how self-service accepts a consumer
	problems []problem.Type
	mux      *http.ServeMux
}

//go:embed templates static
var files embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"lower": strings.ToLower,
	"code":  codeSpans,
}).ParseFS(files, "templates/*.html"))

// New builds the portal for o.Config.
func New(o Options) (*Portal, error) {
	cfg := o.Config
	apis, err := catalog(cfg, o.Authenticators, o.Rules, o.Documents, o.RouteDocuments)
	if err != nil {
		return nil, err
	}
	p := &Portal{o: o, base: cfg.Portal.Path, title: cfg.Portal.Title, apis: apis, byRoute: map[string]*API{},
		problems: problem.Catalogue(), mux: http.NewServeMux()}
	for _, a := range apis {
		p.byRoute[a.Route] = a
	}
	if pol := cfg.Policies[cfg.Portal.Policy]; pol != nil && o.Authenticate != nil {
		p.creds = authOf(cfg, o.Authenticators, pol).Methods
	} else {
		p.o.Authenticate = nil
	}
	b := p.base
	static, _ := fs.Sub(files, "static")
	p.mux.Handle("GET "+b+"/static/", webui.Files(b+"/static/", static))
	p.mux.Handle("GET "+b+"/swagger/", webui.Revalidated(http.StripPrefix(b+"/swagger/", statigz.FileServer(swaggerui.FS))))
	p.mux.Handle("GET "+b+"/ui/", webui.Assets(b+"/ui/"))
	p.mux.HandleFunc("GET "+b+"/{$}", p.index)
	p.mux.HandleFunc("GET "+b+"/apis/{route}", p.api)
	p.mux.HandleFunc("GET "+b+"/apis/{route}/openapi.json", p.spec)
	p.mux.HandleFunc("GET "+b+"/problems/{$}", p.problemList)
	p.mux.HandleFunc("GET "+b+"/problems/{slug}", p.problemPage)
	p.mux.HandleFunc("GET "+b+"/me", p.me)
	p.selfServiceRoutes()
	return p, nil
}

// ServeHTTP serves every path under the base; the gateway sends it
// those requests before routing.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	webui.Secure(w.Header())
	if r.URL.Path == p.base {
		http.Redirect(w, r, p.base+"/", http.StatusFound)
		return
	}
	if _, pattern := p.mux.Handler(r); pattern == "" {
		p.notFound(w, r, "The portal has no "+problem.Clip(r.Method, 20)+" "+problem.Clip(r.URL.Path, 200)+". Its pages start at "+p.base+"/.")
		return
	}
	p.mux.ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	Title, Base, Portal, CSRF, Nav string
	ProblemBase                    string // the prefix of problem types, for the console's links
	SelfService                    bool
	APIs                           []*API
	API                            *API
	Problems                       []problem.Type
	Problem                        *problem.Type
	Credentials                    []Credential
}

func (p *Portal) render(w http.ResponseWriter, r *http.Request, name string, pg page) {
	pg.Base, pg.Portal, pg.SelfService = p.base, p.title, p.o.Authenticate != nil
	pg.ProblemBase = p.o.Config.ProblemTypeBase()
	pg.CSRF = p.o.CSRF.Token(w, r)
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, pg); err != nil {
		writeProblem(w, r, problem.New(problem.Internal, "The portal page could not be rendered. Retry; if it persists, report it to the API operator."))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (p *Portal) index(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, "index.html", page{Title: "APIs", Nav: "apis", APIs: p.apis})
}

func (p *Portal) api(w http.ResponseWriter, r *http.Request) {
	a := p.byRoute[r.PathValue("route")]
	if a == nil {
		p.notFound(w, r, "No API with an OpenAPI description is served as "+problem.Clip(r.PathValue("route"), 100)+". The list is at "+p.base+"/.")
		return
	}
	p.render(w, r, "api.html", page{Title: a.Title, Nav: "apis", API: a, Credentials: a.Auth.Methods})
}

func (p *Portal) spec(w http.ResponseWriter, r *http.Request) {
	a := p.byRoute[r.PathValue("route")]
	if a == nil {
		p.notFound(w, r, "No API with an OpenAPI description is served as "+problem.Clip(r.PathValue("route"), 100)+".")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(a.spec)
}

func (p *Portal) problemList(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, "problems.html", page{Title: "Problem types", Nav: "problems", Problems: p.problems})
}

func (p *Portal) problemPage(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	for i := range p.problems {
		if p.problems[i].Slug == slug {
			p.render(w, r, "problem.html", page{Title: p.problems[i].Title, Nav: "problems", Problem: &p.problems[i]})
			return
		}
	}
	p.notFound(w, r, "No problem type is called "+problem.Clip(slug, 100)+". Every type is listed at "+p.base+"/problems/.")
}

func (p *Portal) me(w http.ResponseWriter, r *http.Request) {
	if p.o.Authenticate == nil {
		p.notFound(w, r, "Self-service is off on this portal: the operator has not set portal.policy.")
		return
	}
	p.render(w, r, "me.html", page{Title: "My account", Nav: "me", Credentials: p.creds})
}

func (p *Portal) notFound(w http.ResponseWriter, r *http.Request, detail string) {
	writeProblem(w, r, problem.New(problem.NotFound, detail))
}

// writeProblem answers with pr, its type under the request's problem
// base (the portal's own pages, unless problems.type_base says).
func writeProblem(w http.ResponseWriter, r *http.Request, pr *problem.Problem) {
	if st := reqctx.Lookup(r.Context()); st != nil {
		pr.Rebase(st.ProblemBase)
	}
	problem.Write(w, pr, w.Header().Get("X-Request-Id"))
}

// segment is a run of text, shown as code or not.
type segment struct {
	Text string
	Code bool
}

// codeSpans splits the catalogue's texts at backquotes, so `Retry-After`
// is shown as code without any markup passing through unescaped.
func codeSpans(s string) []segment {
	parts := strings.Split(s, "`")
	out := make([]segment, 0, len(parts))
	for i, t := range parts {
		if t != "" {
			out = append(out, segment{Text: t, Code: i%2 == 1})
		}
	}
	return out
}
