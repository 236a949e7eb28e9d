// Package soapop serves one SOAP operation as a route's JSON endpoint
// (route soap_operation:, docs/protocol-mediation.md): the request's
// values fill the operation's body from a template, XML-escaped, the
// upstream gets a SOAP 1.1 or 1.2 envelope, and the reply's result
// element comes back as JSON, or its fault as a problem. The reply is
// read with the gateway's XML hardening: no DTD, bounded depth and size.
package soapop

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/heldreply"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/transform"
)

// Bounds of a SOAP reply.
const (
	DefaultMaxReply = 1 << 20
	MaxReplyLimit   = 64 << 20
	maxDepth        = 64
	maxElements     = 100_000
)

// The envelope namespaces.
const (
	ns11 = "http://schemas.xmlsoap.org/soap/envelope/"
	ns12 = "http://www.w3.org/2003/05/soap-envelope"
)

// Stage is a route's SOAP operation, last before the proxy.
type Stage struct {
	endpoint, action string
	v12              bool
	body             *transform.Template
	result           []string
	maxReply         int
}

// compile checks and compiles a route's operation.
func compile(o *config.SOAPOperation, ctx transform.Context) (*Stage, []string, error) {
	s := &Stage{endpoint: o.Endpoint, action: o.Action, v12: o.Version == "1.2", maxReply: int(o.MaxReplyBytes)}
	if s.maxReply <= 0 {
		s.maxReply = DefaultMaxReply
	}
	fail := func(path, format string, args ...any) ([]string, error) {
		return []string{path}, fmt.Errorf(format, args...)
	}
	if !strings.HasPrefix(o.Endpoint, "/") {
		p, err := fail("endpoint", "%q must be a path starting with /", o.Endpoint)
		return nil, p, err
	}
	if o.MaxReplyBytes < 0 || o.MaxReplyBytes > MaxReplyLimit {
		p, err := fail("max_reply_bytes", "must be between 1 byte and 64MiB")
		return nil, p, err
	}
	if strings.ContainsAny(o.Action, "\"\r\n") {
		p, err := fail("action", "%q holds a quote or a line break", o.Action)
		return nil, p, err
	}
	t, err := ctx.ParseTemplate(o.Body)
	if err != nil {
		p, err := fail("body", "%v", err)
		return nil, p, err
	}
	s.body = t
	// well-formed whatever the holes hold: checked with each hole empty
	probe, err := t.Render(nil, func(*transform.Ref) (any, bool) { return "", true })
	if err == nil {
		err = wellFormed(probe)
	}
	if err != nil {
		p, err := fail("body", "not well-formed XML (with each {{ }} standing for a value): %v", err)
		return nil, p, err
	}
	if o.Result != "" {
		s.result = strings.Split(o.Result, ".")
	}
	return s, nil, nil
}

// wellFormed checks an XML fragment: elements closed and nested, no
// DTD, no processing instruction.
func wellFormed(frag []byte) error {
	d := xml.NewDecoder(io.MultiReader(strings.NewReader("<r>"), bytes.NewReader(frag), strings.NewReader("</r>")))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.Directive, xml.ProcInst:
			return errors.New("a DTD or processing instruction")
		}
	}
}

// Check compiles every route's operation (config.Check).
func Check(cfg *config.Config) config.Errors {
	var errs config.Errors
	for i, r := range cfg.Routes {
		if r == nil || r.SOAPOperation == nil {
			continue
		}
		base := fmt.Sprintf("routes[%d]", i)
		if _, path, err := compile(r.SOAPOperation, transform.RouteContext(cfg, r)); err != nil {
			errs = append(errs, cfg.FieldError(base+".soap_operation."+path[0], err))
		}
		errs = append(errs, heldreply.RouteErrors(cfg, base, r, "soap_operation", "envelope")...)
	}
	return errs
}

// New compiles route r's operation; errors are those Check reports.
func New(cfg *config.Config, r *config.Route) (*Stage, error) {
	s, path, err := compile(r.SOAPOperation, transform.RouteContext(cfg, r))
	if err != nil {
		return nil, fmt.Errorf("soap_operation.%s: %w", path[0], err)
	}
	return s, nil
}

// Name names the stage in traces and docs/architecture.md.
func (s *Stage) Name() string { return "soap_operation" }

// Wrap implements the gateway's Stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		look := transform.RequestLookup(r, st)
		body, err := s.body.Render(nil, func(ref *transform.Ref) (any, bool) {
			v, ok := look(ref)
			if !ok {
				return nil, false
			}
			text, isString := v.(string)
			if !isString {
				b, _ := json.Marshal(v)
				text = string(b)
			}
			var esc bytes.Buffer
			_ = xml.EscapeText(&esc, []byte(text))
			return esc.String(), true
		})
		if err != nil {
			reqctx.Refuse(w, r, transform.MissingRefusal(err, "soap_operation"))
			return
		}
		ns, ct := ns11, "text/xml; charset=utf-8"
		if s.v12 {
			ns, ct = ns12, `application/soap+xml; charset=utf-8; action="`+s.action+`"`
		}
		env := make([]byte, 0, len(body)+200)
		env = append(env, `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="`...)
		env = append(env, ns...)
		env = append(env, `"><soap:Body>`...)
		env = append(env, body...)
		env = append(env, `</soap:Body></soap:Envelope>`...)
		if guard.HasBody(r) {
			if _, ok := guard.ReadBody(w, r); !ok {
				return
			}
		}
		heldreply.Post(r, st, s.endpoint, env, ct)
		st.SetUpstream("Accept", []string{strings.SplitN(ct, ";", 2)[0]})
		if !s.v12 {
			st.SetUpstream("Soapaction", []string{`"` + s.action + `"`})
		}
		rw := heldreply.New(w, st, s.maxReply)
		next.ServeHTTP(rw, r)
		s.finish(rw, r)
	})
}

// finish answers with the result element as JSON, or the fault as a
// problem.
func (s *Stage) finish(w *heldreply.Writer, r *http.Request) {
	if !w.Held() {
		return
	}
	refuse := func(t problem.Type, reason, detail string) {
		w.Refuse(r, reqctx.Refusal{Type: t, Reason: reason, Stage: "proxy", Detail: detail})
	}
	if w.Over {
		refuse(problem.BadGateway, "reply_too_large", fmt.Sprintf("The service's reply is larger than this endpoint passes on (%d bytes).", s.maxReply))
		return
	}
	root, err := parse(w.Body)
	var body *node
	if err == nil {
		body, err = envelopeBody(root, s.v12)
	}
	if err != nil || (w.Status != http.StatusOK && w.Status != http.StatusInternalServerError) {
		refuse(problem.BadGateway, "not_soap", fmt.Sprintf("The service did not answer with a SOAP envelope (HTTP %d).", w.Status))
		return
	}
	if f := body.child("Fault"); f != nil {
		client, msg := fault(f, s.v12)
		if !client {
			refuse(withStatus(problem.UpstreamError, http.StatusBadGateway), "upstream_fault",
				"The service failed to answer. Retry later; if it persists, report the request id to the API operator.")
			return
		}
		refuse(withStatus(problem.UpstreamError, http.StatusBadRequest), "upstream_client_fault", "The service refused the request: "+problem.Clip(msg, 512))
		return
	}
	result := body.first()
	for i, name := range s.result {
		if i == 0 {
			result = body.child(name)
		} else if result != nil {
			result = result.child(name)
		}
	}
	if result == nil {
		refuse(problem.BadGateway, "no_result", "The service's reply does not hold the result this endpoint answers with.")
		return
	}
	out, _ := json.Marshal(result.value())
	w.WriteJSON(append(out, '\n'), "")
}

func withStatus(t problem.Type, status int) problem.Type {
	t.Status = status
	return t
}

// node is an element of a reply.
type node struct {
	space, local string
	attrs        []xml.Attr
	kids         []*node
	text         strings.Builder
}

func (n *node) child(local string) *node {
	for _, k := range n.kids {
		if k.local == local {
			return k
		}
	}
	return nil
}

func (n *node) first() *node {
	if len(n.kids) == 0 {
		return nil
	}
	return n.kids[0]
}

// value is n as JSON: text for an element of text only, else an object of
// its attributes (@name) and children, a repeated child a list.
func (n *node) value() any {
	if len(n.kids) == 0 && len(n.attrs) == 0 {
		return strings.TrimSpace(n.text.String())
	}
	obj := map[string]any{}
	for _, a := range n.attrs {
		if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" || a.Name.Space == "http://www.w3.org/2001/XMLSchema-instance" {
			continue
		}
		obj["@"+a.Name.Local] = a.Value
	}
	counts := map[string]int{}
	for _, k := range n.kids {
		counts[k.local]++
	}
	for _, k := range n.kids {
		if counts[k.local] > 1 {
			list, _ := obj[k.local].([]any)
			obj[k.local] = append(list, k.value())
			continue
		}
		obj[k.local] = k.value()
	}
	if t := strings.TrimSpace(n.text.String()); t != "" && len(n.kids) == 0 {
		obj["#text"] = t
	}
	return obj
}

// parse reads a reply with the gateway's XML hardening: no DTD (no
// entity expansion), bounded depth and element count.
func parse(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.Entity = nil
	var stack []*node
	var root *node
	count := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, errors.New("a DTD")
		case xml.StartElement:
			count++
			if count > maxElements || len(stack) >= maxDepth {
				return nil, errors.New("too large or too deep")
			}
			n := &node{space: t.Name.Space, local: t.Name.Local, attrs: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("two root elements")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no element")
	}
	return root, nil
}

// envelopeBody is the Body of an Envelope of the SOAP version.
func envelopeBody(root *node, v12 bool) (*node, error) {
	ns := ns11
	if v12 {
		ns = ns12
	}
	if root.local != "Envelope" || root.space != ns {
		return nil, errors.New("not a SOAP envelope of the version")
	}
	for _, k := range root.kids {
		if k.local == "Body" && k.space == ns {
			return k, nil
		}
	}
	return nil, errors.New("an envelope without a body")
}

// fault reads a Fault: whether the client is to blame (Client, Sender),
// and its message.
func fault(f *node, v12 bool) (client bool, msg string) {
	if v12 {
		code, reason := "", ""
		if c := f.child("Code"); c != nil {
			if v := c.child("Value"); v != nil {
				code = strings.TrimSpace(v.text.String())
			}
		}
		if r := f.child("Reason"); r != nil {
			if t := r.child("Text"); t != nil {
				reason = strings.TrimSpace(t.text.String())
			}
		}
		return strings.HasSuffix(code, ":Sender") || code == "Sender", reason
	}
	code, msg := "", ""
	if c := f.child("faultcode"); c != nil {
		code = strings.TrimSpace(c.text.String())
	}
	if s := f.child("faultstring"); s != nil {
		msg = strings.TrimSpace(s.text.String())
	}
	_, local, _ := strings.Cut(code, ":")
	if local == "" {
		local = code
	}
	return local == "Client" || strings.HasPrefix(local, "Client."), msg
}
