package route

import (
	"fmt"
	"mime"
	"net/http"
	"net/textproto"
	"sort"
	"strings"
)

// Rule is one route's match rule as given to Builder.Add.
type Rule struct {
	ID       int // the caller's route index, returned by Lookup
	Hosts    []string
	Patterns []*Pattern
	Methods  Methods // 0 means any
	Headers  map[string]string
	// AcceptParams are media-type parameters the request's Accept header
	// must carry (version: "2" for Accept: application/vnd.x+json;
	// version=2): each counts as a header condition.
	AcceptParams map[string]string
}

// Conflict reports two rules of equal specificity that match the same
// requests.
type Conflict struct {
	ID, Other    int // rule ids; Other was added first
	PatternIndex int // index into the new rule's Patterns
	Host         string
	Pattern      string
}

func (c *Conflict) Error() string {
	host := c.Host
	if host == "" {
		host = "any host"
	}
	return fmt.Sprintf("matches the same requests as another route with equal specificity (%s, path %s); make one more specific (host, methods, headers or accept_params) or merge them", host, c.Pattern)
}

// header is a condition on a header's value; a name that starts with ';'
// is one on a media-type parameter of Accept (acceptParam).
type header struct{ name, value string }

type entry struct {
	id      int
	methods Methods
	headers []header // canonical names, sorted
	params  []string // names of the pattern's params, in order
	pattern string
}

type node struct {
	static   map[string]*node
	param    *node
	entries  []*entry // patterns ending here
	catchAll []*entry // patterns ending here with /**
}

// Table is an immutable compiled route table. It is safe for concurrent use.
type Table struct {
	exact    map[string]*node // by lowercase host
	wildcard map[string]*node // by the suffix after "*."
	any      *node
	maxDots  int // most labels in a wildcard suffix, bounds the suffix walk
}

// Builder collects rules and reports conflicts as they are added.
type Builder struct{ t *Table }

// NewBuilder returns an empty builder.
func NewBuilder() *Builder {
	return &Builder{t: &Table{exact: map[string]*node{}, wildcard: map[string]*node{}}}
}

// NormalizeHost lowercases a configured host and checks its form: a DNS
// name, an IP literal, or *.suffix.
func NormalizeHost(h string) (string, error) {
	h = strings.ToLower(h)
	name := strings.TrimPrefix(h, "*.")
	if name == "" || len(name) > 253 || strings.ContainsAny(name, "*/:?# ") && !strings.HasPrefix(name, "[") {
		return "", fmt.Errorf("host %q must be a DNS name, an IP address or *.example.com, without port", h)
	}
	return h, nil
}

// Add inserts r. Conflicts with earlier rules are returned; the rule is
// still inserted so later conflicts are found too.
func (b *Builder) Add(r Rule) []*Conflict {
	methods := r.Methods
	if methods == 0 {
		methods = AnyMethod
	}
	if methods&GET != 0 {
		methods |= HEAD
	}
	hs := make([]header, 0, len(r.Headers)+len(r.AcceptParams))
	for k, v := range r.Headers {
		hs = append(hs, header{textproto.CanonicalMIMEHeaderKey(k), v})
	}
	for k, v := range r.AcceptParams {
		hs = append(hs, header{";" + strings.ToLower(k), v})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].name < hs[j].name })
	hosts := r.Hosts
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	var conflicts []*Conflict
	for _, host := range hosts {
		root := b.root(strings.ToLower(host))
		for pi, p := range r.Patterns {
			e := &entry{id: r.ID, methods: methods, headers: hs, params: p.Params, pattern: p.Raw}
			list := root.insert(p.segs)
			for _, other := range *list {
				if ambiguous(e, other) {
					conflicts = append(conflicts, &Conflict{ID: r.ID, Other: other.id, PatternIndex: pi, Host: host, Pattern: p.Raw})
				}
			}
			*list = append(*list, e)
			// Most header conditions first: more specific.
			sort.SliceStable(*list, func(i, j int) bool { return len((*list)[i].headers) > len((*list)[j].headers) })
		}
	}
	return conflicts
}

// Build returns the compiled table. The builder must not be used after.
func (b *Builder) Build() *Table { return b.t }

func (b *Builder) root(host string) *node {
	t := b.t
	switch {
	case host == "":
		if t.any == nil {
			t.any = &node{}
		}
		return t.any
	case strings.HasPrefix(host, "*."):
		suffix := host[2:]
		if n := t.wildcard[suffix]; n != nil {
			return n
		}
		n := &node{}
		t.wildcard[suffix] = n
		t.maxDots = max(t.maxDots, strings.Count(suffix, ".")+1)
		return n
	default:
		if n := t.exact[host]; n != nil {
			return n
		}
		n := &node{}
		t.exact[host] = n
		return n
	}
}

func (n *node) insert(segs []segment) *[]*entry {
	for _, s := range segs {
		switch s.kind {
		case segStatic:
			if n.static == nil {
				n.static = map[string]*node{}
			}
			c := n.static[s.text]
			if c == nil {
				c = &node{}
				n.static[s.text] = c
			}
			n = c
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		case segCatchAll:
			return &n.catchAll
		}
	}
	return &n.entries
}

// ambiguous reports whether a and b (same host key, same pattern shape)
// can match one request with equal specificity.
func ambiguous(a, b *entry) bool {
	if a.methods&b.methods == 0 || len(a.headers) != len(b.headers) {
		return false
	}
	// Same number of header conditions: ambiguous unless some header is
	// required with different values by each (then no request meets both).
	for _, ha := range a.headers {
		for _, hb := range b.headers {
			if ha.name == hb.name && ha.value != hb.value {
				return false
			}
		}
	}
	return true
}

// Result is the outcome of a lookup.
type Result uint8

// Lookup outcomes.
const (
	NotFound Result = iota
	Found
	MethodNotAllowed
)

// Match receives a lookup's route and path parameters. Reuse one per
// request; Lookup does not allocate.
type Match struct {
	ID     int     // the route; on MethodNotAllowed, the most specific one whose path matched
	Allow  Methods // on MethodNotAllowed: the methods that would match
	values [MaxParams]string
	n      int
	e      *entry
}

// Param returns the value of the named path parameter, or "".
func (m *Match) Param(name string) string {
	if m.e == nil {
		return ""
	}
	for i, n := range m.e.params {
		if n == name && i < m.n {
			return m.values[i]
		}
	}
	return ""
}

// Params returns the path parameters as a new map.
func (m *Match) Params() map[string]string {
	out := make(map[string]string, m.n)
	if m.e == nil {
		return out
	}
	for i := 0; i < m.n && i < len(m.e.params); i++ {
		out[m.e.params[i]] = m.values[i]
	}
	return out
}

// Values returns the path parameters' values in pattern order, without
// copying them (/** tails included).
func (m *Match) Values() []string { return m.values[:m.n] }

// Pattern returns the matched path pattern.
func (m *Match) Pattern() string {
	if m.e == nil {
		return ""
	}
	return m.e.pattern
}

// Lookup finds the most specific rule matching the request: exact host,
// then the longest wildcard suffix, then rules without hosts; within a host
// key static segments beat {param} beat /**, and more header conditions
// beat fewer. path must be the decoded, canonical path.
func (t *Table) Lookup(host, method, path string, h http.Header, m *Match) Result {
	*m = Match{}
	mb := methodBit(method)
	host = hostOnly(host)
	if n := t.exact[host]; n != nil && t.walk(n, path, mb, h, m) {
		return Found
	}
	// Wildcards: the longest proper suffix first, at most maxDots labels.
	if len(t.wildcard) > 0 {
		for k := min(strings.Count(host, "."), t.maxDots); k >= 1; k-- {
			if n := t.wildcard[lastLabels(host, k)]; n != nil && t.walk(n, path, mb, h, m) {
				return Found
			}
		}
	}
	if t.any != nil && t.walk(t.any, path, mb, h, m) {
		return Found
	}
	if m.Allow != 0 {
		return MethodNotAllowed
	}
	return NotFound
}

func (t *Table) walk(root *node, path string, mb Methods, h http.Header, m *Match) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	m.n = 0
	return walk(root, path[1:], false, mb, h, m)
}

// walk matches rest (the path after a '/') from n. end is true when the
// path is fully consumed.
func walk(n *node, rest string, end bool, mb Methods, h http.Header, m *Match) bool {
	if end {
		if pick(n.entries, mb, h, m) {
			return true
		}
		return pick(n.catchAll, mb, h, m)
	}
	seg, next, last := rest, "", true
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		seg, next, last = rest[:i], rest[i+1:], false
	}
	if c := n.static[seg]; c != nil && walk(c, next, last, mb, h, m) {
		return true
	}
	if n.param != nil && seg != "" && m.n < MaxParams {
		m.values[m.n] = seg
		m.n++
		if walk(n.param, next, last, mb, h, m) {
			return true
		}
		m.n--
	}
	return pick(n.catchAll, mb, h, m)
}

func pick(es []*entry, mb Methods, h http.Header, m *Match) bool {
	for _, e := range es {
		if !headersMatch(e.headers, h) {
			continue
		}
		if e.methods&mb == 0 {
			if m.Allow == 0 {
				m.ID = e.id // the most specific route of the path, for a 405's metrics
			}
			m.Allow |= e.methods
			continue
		}
		m.ID, m.e = e.id, e
		return true
	}
	return false
}

func headersMatch(want []header, h http.Header) bool {
	for _, w := range want {
		if w.name[0] == ';' {
			if v, ok := acceptParam(h, w.name[1:]); !ok || v != w.value {
				return false
			}
			continue
		}
		vs := h[w.name]
		if len(vs) == 0 || vs[0] != w.value {
			return false
		}
	}
	return true
}

// hostOnly strips a port and lowercases, allocating only for uppercase.
func hostOnly(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

func lastLabels(host string, n int) string {
	i := len(host)
	for ; n > 0; n-- {
		j := strings.LastIndexByte(host[:i], '.')
		if j < 0 {
			return ""
		}
		i = j
	}
	return host[i+1:]
}

// acceptParam returns the value of the media-type parameter name on the
// first media range of the Accept header that carries it: the version a
// client asks for with Accept: application/vnd.acme+json; version=2. A
// range that does not parse as a media type is passed over.
func acceptParam(h http.Header, name string) (string, bool) {
	for _, line := range h["Accept"] {
		for rng := range strings.SplitSeq(line, ",") {
			if strings.IndexByte(rng, ';') < 0 {
				continue // no parameters: the common case, no parse
			}
			_, params, err := mime.ParseMediaType(rng)
			if err != nil {
				continue
			}
			if v, ok := params[name]; ok {
				return v, true
			}
		}
	}
	return "", false
}
