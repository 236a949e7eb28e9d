package transform

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Stage is a route's transform.
type Stage struct {
	o           Options
	method      string
	reqHeaders  *fieldEdits
	query       *fieldEdits
	reqBody     *bodyEdits
	status      map[int]int
	replace     [][2]int
	respHeaders *fieldEdits
	respBody    *bodyEdits
	maxBody     int64
	keyHeaders  []string  // request headers the templates read
	queryRefs   []string  // query parameters the templates read
	docs        sync.Pool // *doc
	bufs        sync.Pool // *[]byte: edited response bodies
	fixed       *rendered // the response's values, when none depends on the request
}

// Name names the stage in traces and docs/architecture.md.
func (s *Stage) Name() string { return "transform" }

// responds reports whether the stage changes responses.
func (s *Stage) responds() bool {
	return !s.respHeaders.empty() || s.respBody != nil || len(s.status) > 0 || len(s.replace) > 0
}

var identity = []string{"identity"}

// Wrap implements the stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	responds := s.responds()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		// templates read the request as the client sent it, whatever
		// the edits before them changed
		sent := sentRequest{method: r.Method, query: r.URL.RawQuery}
		look := func(ref *Ref) (any, bool) { return lookup(r, &sent, st, ref) }
		for _, q := range s.queryRefs {
			if n := countQuery(r.URL.RawQuery, q); n > 1 {
				s.o.Count("refused")
				reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.MissingValue, Reason: "ambiguous_value", Stage: "transform",
					Detail: fmt.Sprintf("This endpoint passes the query parameter %s on to its service, and the request has it %d times: send it once.", problem.Clip(q, 64), n)})
				return
			}
		}
		// every value is rendered before the upstream sees anything
		var rv *rendered
		if responds {
			var err error
			if rv, err = s.renderResponse(look); err != nil {
				s.refuse(w, r, err)
				return
			}
		}
		if err := s.editRequest(w, r, st, look); err != nil {
			s.refuse(w, r, err)
			return
		}
		s.o.Count("transformed")
		if !responds || st.Upgrade != "" {
			next.ServeHTTP(w, r)
			return
		}
		if s.respBody != nil {
			st.SetUpstream("Accept-Encoding", identity)
			st.SetUpstream("Range", nil)
			st.SetUpstream("If-Range", nil)
		}
		tw := &writer{ResponseWriter: w, s: s, r: r, st: st, rv: rv, own: w.Header().Clone()}
		next.ServeHTTP(tw, r)
		tw.finish()
	})
}

// requestError is a request the transform cannot make its edits on.
type requestError struct {
	typ    problem.Type
	reason string
	detail string
}

func (e *requestError) Error() string { return e.detail }

// refuse answers a request whose edits failed.
func (s *Stage) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s.o.Count("refused")
	var miss *MissingError
	var re *requestError
	switch {
	case errors.Is(err, errAnswered):
	case errors.As(err, &miss):
		ref := miss.Ref
		rf := reqctx.Refusal{Type: problem.MissingValue, Reason: "missing_value", Stage: "transform"}
		switch ref.Source {
		case SourceClaims:
			rf.Type, rf.Detail = problem.Forbidden, fmt.Sprintf("This endpoint passes the claim %s of your credential on to its service, and your credential has none: ask the API operator for a credential that carries it.", ref.Name)
		case SourceConsumer:
			rf.Type, rf.Detail = problem.Forbidden, fmt.Sprintf("This endpoint passes the %s of the consumer on to its service, and your consumer record has none: ask the API operator to add it.", ref.Name)
		case SourceHeader:
			rf.Detail = fmt.Sprintf("This endpoint needs the header %s: send it and retry.", ref.Name)
		case SourceQuery:
			rf.Detail = fmt.Sprintf("This endpoint needs the query parameter %s: send it and retry.", ref.Name)
		default:
			rf.Detail = fmt.Sprintf("This endpoint needs %s, and the request has none.", ref)
		}
		reqctx.Refuse(w, r, rf)
	case errors.As(err, &re):
		reqctx.Refuse(w, r, reqctx.Refusal{Type: re.typ, Reason: re.reason, Stage: "transform", Detail: re.detail})
	default:
		panic(err) // a template the load accepted rendered invalid JSON: a bug, answered 500 by the recovery stage
	}
}

// RequestLookup fills holes from r as it is now, and its state: for
// stages other than the transform (a GraphQL operation's variables).
func RequestLookup(r *http.Request, st *reqctx.State) Lookup {
	sent := &sentRequest{method: r.Method, query: r.URL.RawQuery}
	return func(ref *Ref) (any, bool) { return lookup(r, sent, st, ref) }
}

// MissingRefusal is the refusal of a request that lacks a value a
// template of stage needs (err from Render), for stages other than the
// transform.
func MissingRefusal(err error, stage string) reqctx.Refusal {
	detail := "This endpoint needs a value the request does not have."
	var miss *MissingError
	if errors.As(err, &miss) {
		detail = fmt.Sprintf("This endpoint needs %s, and the request has none.", miss.Ref)
	}
	return reqctx.Refusal{Type: problem.MissingValue, Reason: "missing_value", Stage: stage, Detail: detail}
}

// sentRequest is what of the request the edits change, as the client
// sent it.
type sentRequest struct {
	method, query string
}

// lookup finds a hole's value in the request.
func lookup(r *http.Request, sent *sentRequest, st *reqctx.State, ref *Ref) (any, bool) {
	id := st.Identity
	switch ref.Source {
	case SourceConsumer:
		if id == nil {
			return nil, false
		}
		switch ref.Name {
		case "id":
			return id.Consumer, id.Consumer != ""
		case "authenticator":
			return id.Authenticator, id.Authenticator != ""
		case "method":
			return id.Method, id.Method != ""
		case "key_id":
			return id.KeyID, id.KeyID != ""
		case "roles":
			return strings.Join(id.Roles, " "), len(id.Roles) > 0
		case "scopes":
			return strings.Join(id.Scopes, " "), len(id.Scopes) > 0
		}
		v, ok := id.Attributes[strings.TrimPrefix(ref.Name, "attributes.")]
		return v, ok
	case SourceClaims:
		if id == nil {
			return nil, false
		}
		var v any = id.Claims
		for _, step := range ref.Path {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[step]; !ok {
				return nil, false
			}
		}
		return v, v != nil
	case SourceParams:
		v := st.Match.Param(ref.Name)
		return v, v != ""
	case SourceHeader:
		vs := r.Header.Values(ref.Name)
		if len(vs) == 0 {
			return nil, false
		}
		return strings.Join(vs, ", "), true
	case SourceQuery:
		return queryValue(sent.query, ref.Name)
	case SourceRequest:
		switch ref.Name {
		case "method":
			return sent.method, true
		case "path":
			return r.URL.Path, true
		case "host":
			return r.Host, r.Host != ""
		case "id":
			return st.RequestID, st.RequestID != ""
		}
	case SourceClient:
		return st.ClientIP.String(), st.ClientIP.IsValid()
	case SourceRoute:
		return st.Route, true
	}
	return nil, false
}

// queryKey decodes a raw query pair's name (as sent when it does not
// decode).
func queryKey(pair string) string {
	k, _, _ := strings.Cut(pair, "=")
	if d, err := url.QueryUnescape(k); err == nil {
		return d
	}
	return k
}

// countQuery counts the parameters named name in a raw query.
func countQuery(raw, name string) int {
	n := 0
	for pair := range strings.SplitSeq(raw, "&") {
		if pair != "" && queryKey(pair) == name {
			n++
		}
	}
	return n
}

// queryValue is the decoded value of the parameter name.
func queryValue(raw, name string) (any, bool) {
	for pair := range strings.SplitSeq(raw, "&") {
		if pair == "" || queryKey(pair) != name {
			continue
		}
		_, v, _ := strings.Cut(pair, "=")
		if d, err := url.QueryUnescape(v); err == nil {
			return d, true
		}
		return v, true
	}
	return nil, false
}

// renderValue renders a field edit's value.
func renderValue(n named, look Lookup) ([]string, error) {
	if n.fix != nil {
		return n.fix[:1:1], nil
	}
	b, err := n.t.Render(nil, look)
	if err != nil {
		return nil, err
	}
	return []string{string(b)}, nil
}

// renderSets renders the values a body's edits set, as JSON text.
func renderSets(b *bodyEdits, look Lookup) ([][]byte, error) {
	if b == nil || len(b.set) == 0 {
		return nil, nil
	}
	out := make([][]byte, len(b.set))
	for i, bs := range b.set {
		switch {
		case bs.fix != nil:
			out[i] = bs.fix
		case bs.json:
			txt, err := bs.t.RenderJSON(nil, look)
			if err != nil {
				return nil, err
			}
			out[i] = txt
		default:
			txt, err := bs.t.RenderString(nil, look)
			if err != nil {
				return nil, err
			}
			out[i] = txt
		}
	}
	return out, nil
}

// rendered are a response's edits with their values.
type rendered struct {
	set, add [][]string
	body     [][]byte
}

func (s *Stage) renderResponse(look Lookup) (*rendered, error) {
	if s.fixed != nil {
		return s.fixed, nil // no template of the response's has holes
	}
	rv := &rendered{}
	if e := s.respHeaders; e != nil {
		for _, list := range []struct {
			src []named
			dst *[][]string
		}{{e.set, &rv.set}, {e.add, &rv.add}} {
			for _, n := range list.src {
				v, err := renderValue(n, look)
				if err != nil {
					return nil, err
				}
				*list.dst = append(*list.dst, v)
			}
		}
	}
	var err error
	rv.body, err = renderSets(s.respBody, look)
	return rv, err
}

// editRequest makes the request's edits: headers, query, body, method.
func (s *Stage) editRequest(w http.ResponseWriter, r *http.Request, st *reqctx.State, look Lookup) error {
	if e := s.reqHeaders; e != nil {
		current := func(name string) []string {
			if vs, ok := st.UpstreamValues(name); ok {
				return vs
			}
			return r.Header[name]
		}
		for _, name := range e.remove {
			st.SetUpstream(name, nil)
		}
		for _, rn := range e.rename {
			if vs := current(rn[0]); len(vs) > 0 {
				st.SetUpstream(rn[1], vs)
			}
			st.SetUpstream(rn[0], nil)
		}
		for _, n := range e.set {
			v, err := renderValue(n, look)
			if err != nil {
				return err
			}
			st.SetUpstream(n.name, v)
		}
		for _, n := range e.add {
			v, err := renderValue(n, look)
			if err != nil {
				return err
			}
			cur := current(n.name)
			st.SetUpstream(n.name, append(cur[:len(cur):len(cur)], v...))
		}
	}
	if !s.query.empty() {
		q, err := editQuery(r.URL.RawQuery, s.query, look)
		if err != nil {
			return err
		}
		r.URL.RawQuery = q
	}
	if s.reqBody != nil && st.Upgrade == "" {
		if err := s.editRequestBody(w, r, st, look); err != nil {
			return err
		}
	}
	if s.method != "" {
		r.Method = s.method
	}
	return nil
}

// editQuery edits a raw query; parameters not named keep their place and
// their encoding.
func editQuery(raw string, e *fieldEdits, look Lookup) (string, error) {
	var pairs []string
	for pair := range strings.SplitSeq(raw, "&") {
		if pair != "" {
			pairs = append(pairs, pair)
		}
	}
	drop := func(name string) {
		j := 0
		for _, p := range pairs {
			if queryKey(p) != name {
				pairs[j] = p
				j++
			}
		}
		pairs = pairs[:j]
	}
	for _, name := range e.remove {
		drop(name)
	}
	for _, rn := range e.rename {
		drop(rn[1])
		for i, p := range pairs {
			if queryKey(p) == rn[0] {
				_, v, hasValue := strings.Cut(p, "=")
				pairs[i] = url.QueryEscape(rn[1])
				if hasValue {
					pairs[i] += "=" + v
				}
			}
		}
	}
	for _, list := range []struct {
		src     []named
		replace bool
	}{{e.set, true}, {e.add, false}} {
		for _, n := range list.src {
			v, err := renderValue(n, look)
			if err != nil {
				return "", err
			}
			if list.replace {
				drop(n.name)
			}
			pairs = append(pairs, url.QueryEscape(n.name)+"="+url.QueryEscape(v[0]))
		}
	}
	return strings.Join(pairs, "&"), nil
}

// editRequestBody makes the body edits on a JSON request body.
func (s *Stage) editRequestBody(w http.ResponseWriter, r *http.Request, st *reqctx.State, look Lookup) error {
	sets, err := renderSets(s.reqBody, look)
	if err != nil {
		return err
	}
	empty := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	var body []byte
	if !empty {
		mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		if !guard.IsJSON(strings.ToLower(strings.TrimSpace(mt))) {
			return &requestError{problem.UnsupportedMediaType, "not_json", "This endpoint edits fields of the request body on its way to the service, so a body must be JSON (Content-Type: application/json)."}
		}
		if !guard.IdentityEncoded(r.Header) {
			return &requestError{problem.UnsupportedMediaType, "encoded_body", "This endpoint edits fields of the request body, so the body must not be compressed: send it without Content-Encoding."}
		}
		var ok bool
		if body, ok = guard.ReadBody(w, r); !ok {
			return errAnswered
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if len(s.reqBody.set) == 0 {
			return nil // nothing to remove or move in an empty body
		}
		body = []byte("{}")
		r.Header.Set("Content-Type", "application/json")
	}
	d := s.docs.Get().(*doc)
	defer s.putDoc(d)
	root, err := d.parse(body)
	if err != nil {
		return &requestError{problem.InvalidBody, "invalid_body", fmt.Sprintf("The request body is not valid JSON (%v), so the fields this endpoint edits could not be edited.", err)}
	}
	if err := s.reqBody.apply(d, root, sets); err != nil {
		return &requestError{problem.InvalidBody, "invalid_body", fmt.Sprintf("This endpoint edits the request body, and cannot in this one: %v.", err)}
	}
	out := d.appendJSON(make([]byte, 0, len(body)+64), root)
	st.Body, st.BodyBuffered = out, true
	r.Body, r.ContentLength, r.TransferEncoding = guard.BodyReader(out), int64(len(out)), nil
	for _, h := range guard.DigestFields {
		delete(r.Header, h)
	}
	return nil
}

// errAnswered is an edit whose failure the request already got an
// answer for (a body over its limit).
var errAnswered = errors.New("answered")

// apply makes the edits on a document: removals, then renames, then
// sets (sets[i], JSON text, is set.i's value).
func (b *bodyEdits) apply(d *doc, root int32, sets [][]byte) error {
	if b.remove != nil {
		d.remove(root, b.remove, b.remove.Start())
	}
	for _, rn := range b.rename {
		v, err := d.take(root, rn.from, rn.fromName)
		if err != nil {
			return err
		}
		if v >= 0 {
			if err := d.setAt(root, rn.to, rn.toName, v); err != nil {
				return err
			}
		}
	}
	for i, bs := range b.set {
		v, err := d.parse(sets[i])
		if err != nil {
			return fmt.Errorf("set_json %s rendered %q, which is not JSON: %w", bs.name, sets[i], err)
		}
		if err := d.setAt(root, bs.path, bs.name, v); err != nil {
			return err
		}
	}
	return nil
}

// putDoc returns a doc to the pool unless a large document grew it.
func (s *Stage) putDoc(d *doc) {
	if cap(d.nodes) > 1<<14 || cap(d.kids) > 1<<15 {
		return
	}
	d.reset()
	s.docs.Put(d)
}

// putBuf returns an output buffer to the pool unless a large response
// grew it.
func (s *Stage) putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		s.bufs.Put(b)
	}
}

// replaces reports whether an upstream status's body is replaced.
func (s *Stage) replaces(code int) bool {
	for _, rg := range s.replace {
		if rg[0] <= code && code <= rg[1] {
			return true
		}
	}
	return false
}

type state int

const (
	stateHeaders state = iota
	stateHolding
	statePassing
	stateDone // a response of the gateway's own took the upstream's place
)

// writer edits one response.
type writer struct {
	http.ResponseWriter
	s      *Stage
	r      *http.Request
	st     *reqctx.State
	rv     *rendered
	own    http.Header
	state  state
	status int
	body   []byte
}

// entityHeaders describe an upstream body that a replacement drops.
var entityHeaders = []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Content-Disposition", "Content-Language",
	"Content-Location", "Etag", "Last-Modified", "Content-Md5", "Digest", "Content-Digest", "Repr-Digest"}

func (w *writer) WriteHeader(code int) {
	if w.state != stateHeaders {
		return
	}
	if code < 200 || w.st.Problem != "" { // informational, or the gateway's own answer
		if code >= 200 {
			w.state = statePassing
		}
		w.ResponseWriter.WriteHeader(code)
		return
	}
	s, h := w.s, w.Header()
	out := code
	if m, ok := s.status[code]; ok {
		out = m
	}
	w.editHeaders(h)
	if s.replaces(code) {
		w.state = stateDone
		s.o.Count("error_replaced")
		for _, k := range entityHeaders {
			delete(h, k)
		}
		t := problem.UpstreamError
		t.Status = out
		detail := fmt.Sprintf("The service behind this endpoint failed (it answered %d). Retry later; if it persists, report the request id to the API operator.", code)
		if code < 500 {
			detail = fmt.Sprintf("The service behind this endpoint refused the request (it answered %d). Check the request against the API's documentation; the request id identifies it to the API operator.", code)
		}
		w.st.Problem = t.Slug
		problem.Write(w.ResponseWriter, problem.New(t, detail).Rebase(w.st.ProblemBase), w.st.RequestID)
		return
	}
	w.status = out
	if s.respBody != nil && w.r.Method != http.MethodHead && out != http.StatusNoContent && out != http.StatusNotModified && isJSON(h.Get("Content-Type")) {
		if !guard.IdentityEncoded(h) {
			w.refuse("unreadable", "The upstream sent the response compressed, so the gateway could not edit it, and withheld it.")
			return
		}
		if cl := h.Get("Content-Length"); cl != "" {
			n, err := strconv.ParseInt(cl, 10, 64)
			if err == nil && n > s.maxBody {
				w.refuse("oversize", fmt.Sprintf("The upstream's response is larger than this endpoint edits (%d bytes), so it was withheld.", s.maxBody))
				return
			}
			if err == nil && n > 0 {
				w.body = make([]byte, 0, n)
			}
		}
		w.state = stateHolding
		return
	}
	w.state = statePassing
	w.ResponseWriter.WriteHeader(out)
}

// isJSON reports whether a Content-Type names JSON, its parameters aside.
func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	return guard.IsJSON(mt) || guard.IsJSON(strings.ToLower(mt))
}

// editHeaders makes the response's header edits.
func (w *writer) editHeaders(h http.Header) {
	e := w.s.respHeaders
	if e == nil {
		return
	}
	for _, name := range e.remove {
		delete(h, name)
	}
	for _, rn := range e.rename {
		if vs, ok := h[rn[0]]; ok {
			h[rn[1]] = vs
			delete(h, rn[0])
		}
	}
	for i, n := range e.set {
		h[n.name] = cleanValues(w.rv.set[i])
	}
	for i, n := range e.add {
		h[n.name] = append(h[n.name], cleanValues(w.rv.add[i])...)
	}
}

// cleanValues replaces control characters in values that came from a
// request with spaces: a value never ends a header line.
func cleanValues(vs []string) []string {
	for i, v := range vs {
		if strings.IndexFunc(v, isControl) >= 0 {
			vs = append([]string(nil), vs...)
			vs[i] = strings.Map(func(r rune) rune {
				if isControl(r) {
					return ' '
				}
				return r
			}, v)
		}
	}
	return vs
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

func (w *writer) Write(p []byte) (int, error) {
	if w.state == stateHeaders {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case statePassing:
		return w.ResponseWriter.Write(p)
	case stateHolding:
		if int64(len(w.body)+len(p)) > w.s.maxBody {
			w.refuse("oversize", fmt.Sprintf("The upstream's response is larger than this endpoint edits (%d bytes), so it was withheld.", w.s.maxBody))
			return 0, reqctx.ErrResponseReplaced
		}
		w.body = append(w.body, p...)
		return len(p), nil
	}
	return 0, reqctx.ErrResponseReplaced
}

// Flush sends what has been decided; a body still held stays so.
func (w *writer) Flush() {
	if w.state == statePassing {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *writer) refuse(reason, detail string) {
	w.state = stateDone
	w.s.o.Count("response_refused")
	reqctx.RefuseResponse(w.ResponseWriter, w.r, w.own, reqctx.Refusal{Type: problem.ResponseNotFiltered, Reason: "response_" + reason, Stage: "transform", Detail: detail})
}

// finish edits and sends a held body.
func (w *writer) finish() {
	if w.state != stateHolding {
		return
	}
	out := w.body
	if len(bytes.TrimSpace(w.body)) > 0 {
		d := w.s.docs.Get().(*doc)
		defer w.s.putDoc(d)
		root, err := d.parse(w.body)
		if err != nil {
			w.refuse("invalid_json", "The upstream's response is labelled JSON but is not valid JSON, so it could not be edited and was withheld.")
			return
		}
		if err := w.s.respBody.apply(d, root, w.rv.body); err != nil {
			w.refuse("not_editable", fmt.Sprintf("The upstream's response does not have the shape this endpoint edits (%v), so it was withheld.", err))
			return
		}
		buf := w.s.bufs.Get().(*[]byte)
		defer w.s.putBuf(buf)
		out = d.appendJSON((*buf)[:0], root)
		*buf = out
	}
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(len(out)))
	for _, k := range guard.DigestFields {
		delete(h, k)
	}
	if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
		h.Set("Etag", "W/"+et)
	}
	w.state = statePassing
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(out)
}
