// Package respfilter is stage 17 of the request path for response bodies:
// it holds the upstream's JSON or text response, leaves out the fields a
// policy removes, masks the personal data and credentials its detectors
// find, and sends the result. What cannot be filtered (too large, not the
// JSON it claims to be, encoded in a way the gateway cannot read) is
// withheld with a 502 problem, or with on_oversize: pass a too-large one
// is sent unfiltered: a filter never lets a response through half done.
package respfilter

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/rampart-gw/rampart/internal/bytescan"
	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/pii"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// DefaultLimit is how much of a response is held when the policy says
// nothing.
const DefaultLimit = 1 << 20

// Options configure a Stage.
type Options struct {
	Policy       string
	Remove       *fieldpath.Set // nil: no field removed
	Mask         *pii.Set       // nil: nothing masked
	Limit        int64          // 0: DefaultLimit
	PassOversize bool
	// Decrypt names fields whose ciphertext Keys opens for consumers
	// holding one of DecryptFor's roles; others get the ciphertext.
	Decrypt    *fieldpath.Set
	Keys       Opener
	DecryptFor []string
	// Rewrite names string values RewriteValue rewrites for everyone
	// (GraphQL error messages cut of their field suggestions); a stage
	// either rewrites or decrypts, not both.
	Rewrite      *fieldpath.Set
	RewriteValue func(dst, raw []byte) ([]byte, error)
	// Count counts outcomes: filtered, clean, skipped, oversize_passed,
	// refused. CountMasked counts masked values by detector. Both may be
	// nil.
	Count       func(outcome string)
	CountMasked func(detector string, n int)
}

// Opener decrypts one field's value (fieldcrypt.Keyset).
type Opener interface {
	Open(dst, value []byte) ([]byte, error)
}

// Stage filters the bodies of one policy's responses.
type Stage struct {
	o     Options
	names []string
	pool  sync.Pool // *work
}

// New returns the stage.
func New(o Options) *Stage {
	if o.Limit <= 0 {
		o.Limit = DefaultLimit
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	s := &Stage{o: o}
	if o.Mask != nil {
		s.names = o.Mask.Names()
	}
	var maskBytes *bytescan.Set
	var maskDigits int
	if o.Mask != nil {
		needs, digits := o.Mask.Prefilter()
		maskBytes, maskDigits = bytescan.NewSet(needs), digits
	}
	s.pool.New = func() any {
		w := &work{edits: fieldpath.Edits{Remove: o.Remove, MaskNumbers: true, MaskBytes: maskBytes, MaskDigits: maskDigits,
			Replace: o.Rewrite, ReplaceValue: o.RewriteValue}}
		if o.Mask != nil {
			w.masker = o.Mask.NewMasker()
			w.edits.MaskString = func(v []byte) bool { return w.masker.Mask(v) > 0 }
		}
		w.decrypting = w.edits
		if o.Decrypt != nil {
			w.decrypting.Replace, w.decrypting.ReplaceValue = o.Decrypt, o.Keys.Open
		}
		return w
	}
	return s
}

// work is one response's buffers and masker, pooled.
type work struct {
	body, out  []byte
	masker     *pii.Masker
	edits      fieldpath.Edits // for everyone
	decrypting fieldpath.Edits // for consumers who may read decrypt_fields
}

// Upstream request headers the filters need: an unencoded response, and a
// whole one (a byte range of a JSON document cannot be filtered).
var (
	identity = []string{"identity"}
)

// Name names the stage in traces and docs/architecture.md (stage 17, body filters).
func (s *Stage) Name() string { return "response_filter" }

// Wrap implements the stage.
func (s *Stage) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		if st.Upgrade != "" {
			next.ServeHTTP(w, r)
			return
		}
		st.SetUpstream("Accept-Encoding", identity)
		st.SetUpstream("Range", nil)
		st.SetUpstream("If-Range", nil)
		fw := &writer{ResponseWriter: w, s: s, r: r, st: st, own: w.Header().Clone()}
		next.ServeHTTP(fw, r)
		fw.finish()
	})
}

type kind int

const (
	kindNone kind = iota
	kindJSON
	kindText
)

// kindOf says how a response of this media type is filtered.
func (s *Stage) kindOf(contentType string) kind {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return kindNone
	}
	switch {
	case guard.IsJSON(mt):
		return kindJSON
	case s.o.Mask != nil && (strings.HasPrefix(mt, "text/") || guard.IsXML(mt)):
		return kindText
	}
	return kindNone
}

type state int

const (
	stateHeaders state = iota // nothing written yet
	stateHolding              // the body is held until it is whole
	statePassing              // bytes go straight through
	stateRefused              // a problem was sent instead
)

// writer holds one response.
type writer struct {
	http.ResponseWriter
	s      *Stage
	r      *http.Request
	st     *reqctx.State
	own    http.Header // the gateway's headers before the upstream's were added
	state  state
	kind   kind
	gzip   bool
	status int
	work   *work
}

func (w *writer) WriteHeader(code int) {
	if w.state != stateHeaders {
		return
	}
	if code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status = code
	h := w.Header()
	if w.st.Problem != "" || w.r.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified {
		w.pass()
		return
	}
	if w.kind = w.s.kindOf(h.Get("Content-Type")); w.kind == kindNone {
		w.s.o.Count("skipped")
		w.pass()
		return
	}
	switch ce := strings.ToLower(strings.TrimSpace(h.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "gzip", "x-gzip":
		w.gzip = true
	default:
		w.refuse("unreadable", fmt.Sprintf("The upstream sent the response encoded as %q, which the gateway cannot read to filter.", ce))
		return
	}
	if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n > w.s.o.Limit {
		w.oversize()
		return
	}
	w.state = stateHolding
	w.work = w.s.pool.Get().(*work)
	w.work.body = w.work.body[:0]
}

func (w *writer) Write(p []byte) (int, error) {
	if w.state == stateHeaders {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case stateHolding:
		if int64(len(w.work.body)+len(p)) <= w.s.o.Limit {
			w.work.body = append(w.work.body, p...)
			return len(p), nil
		}
		if !w.oversize() {
			return 0, reqctx.ErrResponseReplaced
		}
		return w.ResponseWriter.Write(p)
	case statePassing:
		return w.ResponseWriter.Write(p)
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

// pass sends the status; what follows goes straight through.
func (w *writer) pass() {
	w.state = statePassing
	w.ResponseWriter.WriteHeader(w.status)
}

// oversize handles a response over the limit: sent on unfiltered with
// what was held so far, or refused. It reports whether the response goes
// on.
func (w *writer) oversize() bool {
	if !w.s.o.PassOversize {
		w.refuse("oversize", fmt.Sprintf("The upstream's response is larger than this endpoint's response filters hold (%d bytes), so it was withheld rather than sent unfiltered.", w.s.o.Limit))
		return false
	}
	w.s.o.Count("oversize_passed")
	w.pass()
	if w.work != nil {
		_, err := w.ResponseWriter.Write(w.work.body)
		w.release()
		return err == nil
	}
	return true
}

// refuse replaces the upstream's response with a problem.
func (w *writer) refuse(reason, detail string) {
	w.state = stateRefused
	w.s.o.Count("refused")
	w.release()
	reqctx.RefuseResponse(w.ResponseWriter, w.r, w.own, reqctx.Refusal{Type: problem.ResponseNotFiltered, Reason: "response_" + reason, Stage: "response", Detail: detail})
}

// maxPooled bounds the buffers kept for the next response: a burst of
// large responses does not pin their memory.
const maxPooled = 4 << 20

func (w *writer) release() {
	if wk := w.work; wk != nil {
		w.work = nil
		if cap(wk.body) > maxPooled || cap(wk.out) > maxPooled {
			return
		}
		w.s.pool.Put(wk)
	}
}

// finish filters and sends a held response once the upstream's is whole.
func (w *writer) finish() {
	if w.state == stateHolding { // nothing written at all is left to the server
		w.filter()
	}
}

var errTooLarge = errors.New("too large")

func (w *writer) filter() {
	wk := w.work
	body := wk.body
	if w.gzip {
		decoded, err := gunzip(wk.out[:0], body, w.s.o.Limit)
		switch {
		case errors.Is(err, errTooLarge):
			w.refuse("oversize", fmt.Sprintf("The upstream's response, decompressed, is larger than this endpoint's response filters hold (%d bytes), so it was withheld.", w.s.o.Limit))
			return
		case err != nil:
			w.refuse("unreadable", "The upstream's gzip-encoded response is corrupt, so it could not be filtered and was withheld.")
			return
		}
		body, wk.out, wk.body = decoded, body[:0], decoded
		w.Header().Del("Content-Encoding")
	}
	if wk.masker != nil {
		wk.masker.Reset()
	}
	var out []byte
	changed := false
	switch {
	case len(body) == 0:
	case w.kind == kindJSON:
		edits := &wk.edits
		if w.decrypts() {
			edits = &wk.decrypting
		}
		var err error
		var syn *fieldpath.SyntaxError
		switch out, changed, err = fieldpath.Rewrite(body, edits, wk.out[:0]); {
		case errors.As(err, &syn):
			w.refuse("invalid_json", "The upstream's response is labelled JSON but is not valid JSON, so it could not be filtered and was withheld.")
			return
		case err != nil:
			w.refuse("undecryptable", "An encrypted field of the upstream's response does not decrypt (altered, truncated, or made with a key the gateway no longer has), so the response was withheld rather than passed on half decrypted.")
			return
		}
		if len(out) > 0 && &out[0] != &body[0] {
			wk.out = out // keep the grown buffer for the next response
		}
	default:
		out, changed = body, wk.masker.Mask(body) > 0
	}
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(len(out))) // the upstream's was removed or is wrong now
	if changed || w.gzip {
		for _, k := range guard.DigestFields {
			delete(h, k)
		}
		if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
			h.Set("Etag", "W/"+et) // the same for every client, but not the upstream's bytes
		}
		w.s.o.Count("filtered")
	} else {
		w.s.o.Count("clean")
	}
	w.report()
	w.pass()
	_, _ = w.ResponseWriter.Write(out)
	w.release()
}

// decrypts reports whether this response's consumer may read the
// decrypt_fields in clear.
func (w *writer) decrypts() bool {
	if w.s.o.Decrypt == nil || w.st.Identity == nil {
		return false
	}
	for _, have := range w.st.Identity.Roles {
		if slices.Contains(w.s.o.DecryptFor, have) {
			return true
		}
	}
	return false
}

// report counts masked values and publishes a data.masked event.
func (w *writer) report() {
	wk := w.work
	if wk.masker == nil || wk.masker.Total() == 0 {
		return
	}
	counts := make(map[string]int, len(w.s.names))
	for i, n := range wk.masker.Counts() {
		if n > 0 {
			counts[w.s.names[i]] = n
			if w.s.o.CountMasked != nil {
				w.s.o.CountMasked(w.s.names[i], n)
			}
		}
	}
	st := w.st
	st.Events.Publish(observe.Event{Type: "data.masked", Reason: "pii_in_response", Stage: "response", Status: w.status,
		Detail: fmt.Sprintf("%d values masked in the upstream's response", wk.masker.Total()), Masked: counts,
		Consumer: st.Consumer, ClientIP: st.ClientIP.String(), RequestID: st.RequestID, Route: st.Route, Method: w.r.Method, Path: st.Path})
}

// gunzip decodes body into dst, failing with errTooLarge past limit bytes
// (a gzip bomb stops there).
func gunzip(dst, body []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	buf := bytes.NewBuffer(dst)
	n, err := io.Copy(buf, io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), zr.Close()
}
