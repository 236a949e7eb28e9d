package portal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/rampart-gw/rampart/internal/authn"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/route"
)

// API is one route with an OpenAPI description, as the portal lists it:
// what a consumer needs to call it, from the same config the gateway
// enforces.
type API struct {
	Route string // the route's name, also the API's portal path
	Title string
	// Also names the route where another API has the same title (two
	// routes of one document, or documents titled alike), so no two
	// cards read the same.
	Also        string
	Served      []string // where it is served: the route's hosts and paths
	Version     string
	Description string
	Hosts       []string
	Auth        Auth
	Limits      []string // rate limits, in words
	Quota       string   // the quota, in words; "" when none
	Groups      []Group  // operations by their first tag
	// Retiring is the route's deprecation notice, in words; "" when the
	// route is not deprecated.
	Retiring string
	spec     []byte // the OpenAPI document as JSON
}

// retiring says, for a deprecated route, since when, until when and
// where to go instead.
func retiring(d *config.Deprecation) string {
	if d == nil {
		return ""
	}
	s := "Deprecated since " + d.Since.UTC().Format(time.DateOnly)
	if !d.Sunset.IsZero() {
		s += "; it stops answering (410 Gone) on " + d.Sunset.UTC().Format(time.DateOnly)
	}
	s += "."
	if d.Successor != "" {
		s += " Move to " + d.Successor + "."
	}
	if d.Link != "" {
		s += " Migration notes: " + d.Link
	}
	return s
}

// Auth is what a policy asks of a caller.
type Auth struct {
	Anonymous bool
	Methods   []Credential
	Scopes    []string
	Roles     []string
	Condition bool // a CEL condition also applies
}

// Credential is one accepted way to authenticate.
type Credential struct {
	Authenticator string
	Type          string // jwt, oidc, oauth2_introspection, api_key, mtls
	Kind          string // bearer, header, query, cookie, certificate
	Name          string // the header, query parameter or cookie of an API key
}

// Describe says in words how to send the credential.
func (c Credential) Describe() string {
	switch c.Kind {
	case "bearer":
		return "Authorization: Bearer <token> (" + c.Type + ")"
	case "header":
		return "API key in the " + c.Name + " header"
	case "query":
		return "API key in the " + c.Name + " query parameter"
	case "cookie":
		return "API key in the " + c.Name + " cookie"
	}
	return "a client certificate (mTLS)"
}

// Group is the operations sharing a tag.
type Group struct {
	Name string
	Ops  []Op
}

// Op is one documented operation the route serves.
type Op struct {
	Method, Path, Summary, ID string
	Deprecated                bool
}

// Anchor is the operation's fragment id on its API page.
func (o Op) Anchor() string { return "op-" + strings.ToLower(o.Method) + "-" + slug(o.Path) }

func slug(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// catalog lists the config's routes that have an OpenAPI description,
// with the operations of it each route serves: rules are the routes'
// match rules, docs the policies' documents.
func catalog(cfg *config.Config, kinds *authn.Kinds, rules []route.Rule, docs, routeDocs map[string]*openapi3.T) ([]*API, error) {
	var apis []*API
	for i, r := range cfg.Routes {
		pol, doc := cfg.Policies[r.Policy], docs[r.Policy]
		if d := routeDocs[r.Name]; d != nil {
			doc = d
		}
		if pol == nil && r.Policy == config.PublicPolicy {
			pol = &config.Policy{}
		}
		if pol == nil || doc == nil {
			continue
		}
		spec, err := json.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("route %s: openapi: %w", r.Name, err)
		}
		a := &API{Route: r.Name, Hosts: r.Match.Hosts, spec: spec, Auth: authOf(cfg, kinds, pol)}
		if doc.Info != nil {
			a.Title, a.Version, a.Description = doc.Info.Title, doc.Info.Version, doc.Info.Description
		}
		if a.Title == "" {
			a.Title = r.Name
		}
		for _, rl := range pol.RateLimits {
			if rl.Mode == "shadow" {
				continue
			}
			s := fmt.Sprintf("%d per %s per %s", rl.Rate.N, per(rl.Rate.Per), strings.ReplaceAll(rl.Key, "+", " and "))
			if rl.Burst > 1 {
				s += fmt.Sprintf(", bursts of %d", rl.Burst)
			}
			a.Limits = append(a.Limits, s)
		}
		if q := pol.Quota; q != nil {
			key := q.Key
			if key == "" {
				key = "consumer"
			}
			a.Quota = fmt.Sprintf("%d per %s per %s", q.Limit, q.Period, key)
		}
		a.Groups = operations(doc, rules[i], r.Deprecation != nil)
		a.Served = servedAt(r)
		a.Retiring = retiring(r.Deprecation)
		apis = append(apis, a)
	}
	titles := map[string]int{}
	for _, a := range apis {
		titles[a.Title]++
	}
	for _, a := range apis {
		if titles[a.Title] > 1 {
			a.Also = a.Route
		}
	}
	return apis, nil
}

// servedAt lists a route's paths, under each of its hosts.
func servedAt(r *config.Route) []string {
	hosts := r.Match.Hosts
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	var out []string
	for _, h := range hosts {
		for _, p := range r.Match.Paths {
			out = append(out, h+p)
		}
	}
	return out
}

func per(d interface{ Seconds() float64 }) string {
	switch d.Seconds() {
	case 1:
		return "second"
	case 60:
		return "minute"
	case 3600:
		return "hour"
	case 86400:
		return "day"
	}
	return fmt.Sprintf("%gs", d.Seconds())
}

func authOf(cfg *config.Config, kinds *authn.Kinds, pol *config.Policy) Auth {
	var a Auth
	if len(pol.Authenticate) == 0 {
		a.Anonymous = true
		return a
	}
	for _, name := range pol.Authenticate {
		au := cfg.Authenticators[name]
		if au == nil {
			continue
		}
		c := Credential{Authenticator: name, Type: au.Type, Kind: "bearer"}
		if kind, ok := kinds.Lookup(au.Type); ok && kind.Credential != nil {
			c.Kind, c.Name = kind.Credential(au)
		}
		a.Methods = append(a.Methods, c)
	}
	if z := pol.Authorize; z != nil {
		a.Scopes, a.Roles, a.Condition = z.Scopes, z.Roles, z.When != ""
	}
	return a
}

// operations lists the document's operations that the route's match
// rule serves, grouped by first tag, in path order; every one is marked
// deprecated when the route is.
func operations(doc *openapi3.T, rule route.Rule, deprecated bool) []Group {
	byTag := map[string][]Op{}
	if doc.Paths == nil {
		return nil
	}
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		if item == nil || !served(rule, p) {
			continue
		}
		for method, op := range item.Operations() {
			if mb, ok := route.ParseMethod(method); !ok || (rule.Methods != 0 && rule.Methods&mb == 0) {
				continue
			}
			tag := "Operations"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], Op{Method: method, Path: p, Summary: op.Summary, ID: op.OperationID, Deprecated: op.Deprecated || deprecated})
		}
	}
	groups := make([]Group, 0, len(byTag))
	for tag, ops := range byTag {
		sort.Slice(ops, func(i, j int) bool {
			if ops[i].Path != ops[j].Path {
				return ops[i].Path < ops[j].Path
			}
			return methodOrder(ops[i].Method) < methodOrder(ops[j].Method)
		})
		groups = append(groups, Group{Name: tag, Ops: ops})
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	return groups
}

var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}

func methodOrder(m string) int {
	if i := slices.Index(methods, m); i >= 0 {
		return i
	}
	return len(methods)
}

// served reports whether a request to the templated path p reaches the
// route: each {param} stands for one segment.
func served(rule route.Rule, p string) bool {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = "x"
		}
	}
	sample := strings.Join(segs, "/")
	for _, pat := range rule.Patterns {
		if pat.Match(sample) {
			return true
		}
	}
	return false
}
