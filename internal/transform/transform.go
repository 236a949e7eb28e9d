// Package transform is a route's request and response transformation
// (stages 15 and 17 of the request path): header, query and JSON body
// edits with values from templates over the request and its consumer, a
// method override, status mapping, and upstream error bodies replaced by
// problem+json.
//
// Every template is rendered before the upstream sees the request, so a
// value the request lacks refuses it (fail closed) rather than sending
// something half made.
package transform

import (
	"fmt"
	"maps"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/route"
)

// Context is what a route's transform may draw on, known at load.
type Context struct {
	// Params are the path parameters every pattern of the route captures.
	Params []string
	// Authenticated is set when the route's policy authenticates: only
	// then are consumer.* and claims.* values.
	Authenticated bool
	// Cached and SharedCache describe the route's response cache: a
	// transform must not make an answer depend on what its key leaves
	// out.
	Cached, SharedCache bool
	// Route is the route's name: route.name is text from the load on.
	Route string
}

// RouteContext is the Context of route r in cfg.
func RouteContext(cfg *config.Config, r *config.Route) Context {
	c := Context{Cached: r.Cache != nil, SharedCache: r.Cache != nil && r.Cache.Shared, Route: r.Name}
	if pol := cfg.Policies[r.Policy]; pol != nil && len(pol.Authenticate) > 0 {
		c.Authenticated = true
	}
	for i, p := range r.Match.Paths {
		pat, err := route.ParsePattern(p)
		if err != nil {
			return c // reported by the router's check
		}
		if i == 0 {
			c.Params = slices.Clone(pat.Params)
			continue
		}
		c.Params = slices.DeleteFunc(c.Params, func(n string) bool { return !slices.Contains(pat.Params, n) })
	}
	return c
}

// fieldError is an error at a config path.
type fieldError struct {
	path string
	err  error
}

// Check compiles every route's transform (config.Check).
func Check(cfg *config.Config) config.Errors {
	var errs config.Errors
	for i, r := range cfg.Routes {
		if r == nil || r.Transform == nil {
			continue
		}
		_, ferrs := compile(fmt.Sprintf("routes[%d].transform", i), r.Transform, RouteContext(cfg, r))
		for _, fe := range ferrs {
			errs = append(errs, cfg.FieldError(fe.path, fe.err))
		}
	}
	return errs
}

// KeyHeaders are the request headers a route's transform reads: a cache
// in front of it keys on them too.
func KeyHeaders(t *config.Transform) []string {
	s, _ := compile("", t, Context{}) // the errors are Check's
	return s.keyHeaders
}

// New compiles route r's transform; errors are those Check reports.
func New(cfg *config.Config, r *config.Route, o Options) (*Stage, error) {
	s, errs := compile("transform", r.Transform, RouteContext(cfg, r))
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", errs[0].path, errs[0].err)
	}
	s.o = o
	if s.o.Count == nil {
		s.o.Count = func(string) {}
	}
	return s, nil
}

// Options configure a Stage.
type Options struct {
	Route string
	// Count counts outcomes: transformed, refused, error_replaced,
	// response_refused. May be nil.
	Count func(outcome string)
}

// Request names the gateway keeps to itself: a transform that set them
// would speak for the gateway (forwarding, identity, tracing) or break
// the message's framing.
var ownedRequest = []string{"Host", "Content-Length", "Content-Encoding", "Transfer-Encoding", "Expect", "Forwarded", "X-Real-Ip",
	"X-Request-Id", "Traceparent", "Tracestate", "Accept-Encoding", "Range", "If-Range"}

// Response names the gateway keeps to itself: framing, and what its
// own stages say (security headers, CORS, rate limits, the cache's and
// the lifecycle's headers).
var ownedResponse = []string{"Content-Length", "Content-Encoding", "Transfer-Encoding", "X-Request-Id", "Strict-Transport-Security",
	"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy", "Permissions-Policy",
	"Cache-Status", "Deprecation", "Sunset", "Retry-After", "Www-Authenticate"}

// owned reports whether a transform may not edit header name.
func owned(name string, response bool) bool {
	c := textproto.CanonicalMIMEHeaderKey(name)
	for _, h := range guard.HopByHop {
		if c == h {
			return true
		}
	}
	list := ownedRequest
	if response {
		list = ownedResponse
		if strings.HasPrefix(c, "Access-Control-") || strings.HasPrefix(c, "Ratelimit") {
			return true
		}
	}
	return slices.Contains(list, c) || strings.HasPrefix(c, "X-Forwarded-") || strings.HasPrefix(c, "X-Rampart-")
}

// compiler collects a transform's errors and what its templates read.
type compiler struct {
	ctx        Context
	errs       []fieldError
	keyHeaders []string
	queryRefs  []string
}

func (c *compiler) fail(path string, format string, args ...any) {
	c.errs = append(c.errs, fieldError{path, fmt.Errorf(format, args...)})
}

// template parses one template at path and checks its holes against
// what the route has.
func (c *compiler) template(path, src string) *Template {
	t, err := Parse(src)
	if err != nil {
		c.fail(path, "template %q: %v", src, err)
		return nil
	}
	if c.ctx.Route != "" {
		t.bind(SourceRoute, "name", c.ctx.Route)
	}
	for _, ref := range t.Refs() {
		if msg := c.ctx.RefError(ref); msg != "" {
			c.fail(path, "template %q, column %d: %s", src, ref.Col, msg)
		}
		switch ref.Source {
		case SourceHeader:
			c.keyHeaders = append(c.keyHeaders, textproto.CanonicalMIMEHeaderKey(ref.Name))
		case SourceQuery:
			c.queryRefs = append(c.queryRefs, ref.Name)
		}
	}
	return t
}

// ParseTemplate parses a template for a route of context c: its holes
// checked as a transform's are, route.name bound.
func (c Context) ParseTemplate(src string) (*Template, error) {
	t, err := Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template %q: %w", src, err)
	}
	if c.Route != "" {
		t.bind(SourceRoute, "name", c.Route)
	}
	for _, ref := range t.Refs() {
		if msg := c.RefError(ref); msg != "" {
			return nil, fmt.Errorf("template %q, column %d: %s", src, ref.Col, msg)
		}
	}
	return t, nil
}

// RefError says why a hole cannot be filled on a route of context c ("":
// it can).
func (c Context) RefError(ref *Ref) string {
	switch ref.Source {
	case SourceConsumer, SourceClaims:
		if !c.Authenticated {
			return fmt.Sprintf("%s: the route's policy authenticates no one, so there is no consumer", ref)
		} else if c.SharedCache {
			return fmt.Sprintf("%s differs per consumer, and the route's cache is shared: one consumer would get an answer made for another (remove cache.shared)", ref)
		}
	case SourceParams:
		if !slices.Contains(c.Params, ref.Name) {
			return fmt.Sprintf("%s: not every path pattern of the route captures {%s}", ref, ref.Name)
		}
	case SourceClient:
		if c.Cached {
			return "client.ip differs per client, which the route's cache key leaves out: remove it or the cache"
		}
	case SourceRequest:
		if ref.Name == "id" && c.Cached {
			return "request.id differs per request, so a cached answer would carry another request's: remove it or the cache"
		}
	}
	return ""
}

// named is one field edit: a name and its template.
type named struct {
	name string
	t    *Template
	fix  []string // the value, when the template has no holes (read-only)
}

// fieldEdits are compiled header or query edits.
type fieldEdits struct {
	remove []string
	rename [][2]string
	set    []named
	add    []named
}

func (e *fieldEdits) empty() bool {
	return e == nil || len(e.remove)+len(e.rename)+len(e.set)+len(e.add) == 0
}

// fields compiles header (header true) or query edits.
func (c *compiler) fields(path string, fe *config.FieldEdits, header, response bool) *fieldEdits {
	if fe == nil {
		return nil
	}
	out := &fieldEdits{}
	name := func(p, n string) string {
		switch {
		case header && !validToken(n):
			c.fail(p, "%q is not a header name", n)
		case header && owned(n, response):
			c.fail(p, "%s is the gateway's own header; a transform cannot edit it", textproto.CanonicalMIMEHeaderKey(n))
		case header:
			return textproto.CanonicalMIMEHeaderKey(n)
		case n == "":
			c.fail(p, "empty query parameter name")
		}
		return n
	}
	for i, n := range fe.Remove {
		out.remove = append(out.remove, name(fmt.Sprintf("%s.remove[%d]", path, i), n))
	}
	for _, from := range slices.Sorted(maps.Keys(fe.Rename)) {
		p := path + ".rename." + from
		out.rename = append(out.rename, [2]string{name(p, from), name(p, fe.Rename[from])})
	}
	for _, list := range []struct {
		key string
		m   map[string]string
		dst *[]named
	}{{"set", fe.Set, &out.set}, {"add", fe.Add, &out.add}} {
		for _, n := range slices.Sorted(maps.Keys(list.m)) {
			p := path + "." + list.key + "." + n
			t := c.template(p, list.m[n])
			if t == nil {
				continue
			}
			nd := named{name: name(p, n), t: t}
			if v, ok := t.Constant(); ok {
				nd.fix = []string{v}
			}
			*list.dst = append(*list.dst, nd)
		}
	}
	return out
}

// bodySet is one field a body edit sets.
type bodySet struct {
	name string
	path []fieldpath.PathStep
	t    *Template
	json bool   // set_json: the template renders JSON text
	fix  []byte // the value's JSON text, when the template has no holes
}

// bodyEdits are compiled JSON body edits.
type bodyEdits struct {
	remove *fieldpath.Set
	rename []struct {
		from, to         []fieldpath.PathStep
		fromName, toName string
	}
	set []bodySet
}

func (c *compiler) body(path string, be *config.BodyEdits) *bodyEdits {
	if be == nil {
		return nil
	}
	out := &bodyEdits{}
	if len(be.Remove) > 0 {
		set, err := fieldpath.Compile(be.Remove)
		if err != nil {
			c.fail(path+".remove", "%v", err)
		}
		out.remove = set
	}
	exact := func(p, s string) []fieldpath.PathStep {
		steps, err := fieldpath.Exact(s)
		if err != nil {
			c.fail(p, "%v", err)
		}
		return steps
	}
	var targets []string
	for _, from := range slices.Sorted(maps.Keys(be.Rename)) {
		p := path + ".rename." + from
		f, t := exact(p, from), exact(p, be.Rename[from])
		if f == nil || t == nil {
			continue
		}
		out.rename = append(out.rename, struct {
			from, to         []fieldpath.PathStep
			fromName, toName string
		}{f, t, from, be.Rename[from]})
		targets = append(targets, be.Rename[from])
	}
	for _, key := range []string{"set", "set_json"} {
		m := be.Set
		if key == "set_json" {
			m = be.SetJSON
		}
		for _, f := range slices.Sorted(maps.Keys(m)) {
			p := path + "." + key + "." + f
			steps := exact(p, f)
			t := c.template(p, m[f])
			if steps == nil || t == nil {
				continue
			}
			bs := bodySet{name: f, path: steps, t: t, json: key == "set_json"}
			if bs.json {
				// the JSON around the holes must be JSON whatever they hold
				if err := probeJSON(t); err != nil {
					c.fail(p, "%q is not JSON text (with each {{ }} standing for a value): %v", m[f], err)
					continue
				}
			}
			if v, ok := t.Constant(); ok {
				bs.fix = constantText(v, bs.json)
			}
			out.set = append(out.set, bs)
			targets = append(targets, f)
		}
	}
	// two edits of one place, or of a place and what is inside it,
	// would depend on their order
	for i, a := range targets {
		for _, b := range targets[i+1:] {
			if a == b || strings.HasPrefix(b, a+".") || strings.HasPrefix(b, a+"[") || strings.HasPrefix(a, b+".") || strings.HasPrefix(a, b+"[") {
				c.fail(path, "fields %s and %s overlap: edit each place once", a, b)
			}
		}
	}
	return out
}

// probeJSON checks that a set_json template renders JSON whatever its
// holes hold: a string and a null, standing for every value.
func probeJSON(t *Template) error {
	for _, v := range []any{"x", nil} {
		probe, _ := t.RenderJSON(nil, func(*Ref) (any, bool) { return v, true })
		if _, err := new(doc).parse(probe); err != nil {
			return err
		}
	}
	return nil
}

// constantText is a template without holes as JSON text.
func constantText(v string, isJSON bool) []byte {
	if isJSON {
		return []byte(v)
	}
	return appendString(nil, v)
}

// compile compiles a route's transform at path base.
func compile(base string, t *config.Transform, ctx Context) (*Stage, []fieldError) {
	c := &compiler{ctx: ctx}
	s := &Stage{}
	s.docs.New = func() any { return new(doc) }
	s.bufs.New = func() any { return new([]byte) }
	if rq := t.Request; rq != nil {
		p := base + ".request"
		if rq.Method != "" {
			if _, ok := route.ParseMethod(rq.Method); !ok || rq.Method == http.MethodConnect || rq.Method == http.MethodTrace {
				c.fail(p+".method", "%q is not a method a request can be sent upstream with (GET, POST, PUT, PATCH, DELETE ...)", rq.Method)
			}
			s.method = rq.Method
		}
		s.reqHeaders = c.fields(p+".headers", rq.Headers, true, false)
		s.query = c.fields(p+".query", rq.Query, false, false)
		s.reqBody = c.body(p+".body", rq.Body)
	}
	if rs := t.Response; rs != nil {
		p := base + ".response"
		for _, from := range slices.Sorted(maps.Keys(rs.Status)) {
			code, err := strconv.Atoi(from)
			to := rs.Status[from]
			switch {
			case err != nil || code < 200 || code > 599:
				c.fail(p+".status."+from, "%q is not a final status code (200-599)", from)
			case to < 200 || to > 599 || to == http.StatusNoContent || to == http.StatusNotModified || code == http.StatusNoContent || code == http.StatusNotModified:
				c.fail(p+".status."+from, "%d to %d: map final statuses with bodies (200-599, not 204 or 304)", code, to)
			default:
				if s.status == nil {
					s.status = map[int]int{}
				}
				s.status[code] = to
			}
		}
		for i, e := range rs.ReplaceErrors {
			lo, hi, ok := statusRange(e)
			if !ok {
				c.fail(fmt.Sprintf("%s.replace_errors[%d]", p, i), "%q is not an error status: give a code from 400 to 599, or 4xx or 5xx", e)
				continue
			}
			s.replace = append(s.replace, [2]int{lo, hi})
		}
		s.respHeaders = c.fields(p+".headers", rs.Headers, true, true)
		s.respBody = c.body(p+".body", rs.Body)
		s.maxBody = int64(rs.MaxBody)
	}
	if s.responds() && s.responseConstant() {
		s.fixed, _ = s.renderResponse(func(*Ref) (any, bool) { return nil, false }) // the same for every request
	}
	if s.maxBody <= 0 {
		s.maxBody = 1 << 20
	}
	s.keyHeaders = slices.Compact(slices.Sorted(slices.Values(c.keyHeaders)))
	s.queryRefs = slices.Compact(slices.Sorted(slices.Values(c.queryRefs)))
	return s, c.errs
}

// responseConstant reports whether no template of the response's edits
// has a hole.
func (s *Stage) responseConstant() bool {
	if e := s.respHeaders; e != nil {
		for _, n := range append(slices.Clip(e.set), e.add...) {
			if n.fix == nil {
				return false
			}
		}
	}
	if b := s.respBody; b != nil {
		for _, bs := range b.set {
			if bs.fix == nil {
				return false
			}
		}
	}
	return true
}

// statusRange reads 404, 4xx or 5xx.
func statusRange(s string) (lo, hi int, ok bool) {
	switch strings.ToLower(s) {
	case "4xx":
		return 400, 499, true
	case "5xx":
		return 500, 599, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 400 || n > 599 {
		return 0, 0, false
	}
	return n, n, true
}
