package waf

import (
	"bytes"
	"net/http"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// errWithheld stops the proxy copying a response the WAF refused.
var errWithheld = reqctx.ErrResponseReplaced

type holdState int

const (
	holdHeaders holdState = iota // nothing written yet
	holdBody                     // headers inspected, body kept back until inspected
	holdPassing                  // inspected (or not inspectable): bytes go straight through
	holdRefused                  // a problem was sent instead
)

// heldResponse runs the response phases on the upstream's response before
// the client sees any of it: the headers when the upstream sends them,
// then the body, kept back up to the stage's limit. A body longer than
// the limit is inspected on its first limit bytes and the rest passes
// uninspected (ModSecurity's ProcessPartial). A response the rules block
// is replaced by a 502 response-withheld problem; in detect mode it
// passes and a waf.detect event names the rules.
type heldResponse struct {
	http.ResponseWriter
	s      *Stage
	t      *txn
	tx     types.Transaction
	r      *http.Request
	state  holdState
	status int
	body   bytes.Buffer
	own    http.Header // the gateway's headers before the upstream's were added
}

func (h *heldResponse) WriteHeader(code int) {
	if h.state != holdHeaders {
		return
	}
	if code < 200 { // 1xx: informational, not the response
		h.ResponseWriter.WriteHeader(code)
		return
	}
	h.status = code
	st := reqctx.From(h.r.Context())
	if st.Problem != "" { // the gateway's own answer, not the upstream's
		h.pass()
		return
	}
	for k, vs := range h.Header() {
		for _, v := range vs {
			h.tx.AddResponseHeader(k, v)
		}
	}
	if !h.s.Gate.enter(h.r.Context().Done()) {
		h.state = holdRefused // the client is gone
		return
	}
	it := h.tx.ProcessResponseHeaders(code, h.r.Proto)
	h.s.Gate.leave()
	switch {
	case it != nil:
		h.refuse()
	case h.r.Method != http.MethodHead && h.tx.IsResponseBodyAccessible() && h.tx.IsResponseBodyProcessable() && guard.IdentityEncoded(h.Header()): // compressed bodies are not read
		h.state = holdBody
	default:
		// Nothing the body rules can read; the body phase still runs,
		// on no body, for the outbound score the header rules added.
		h.decide()
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if h.state == holdHeaders {
		h.WriteHeader(http.StatusOK)
	}
	switch h.state {
	case holdBody:
		room := h.s.ResponseBodyLimit - h.body.Len()
		if len(p) <= room {
			h.body.Write(p)
			return len(p), nil
		}
		h.body.Write(p[:room])
		if !h.decide() {
			return 0, errWithheld
		}
		n, err := h.ResponseWriter.Write(p[room:])
		return room + n, err
	case holdPassing:
		return h.ResponseWriter.Write(p)
	default:
		return 0, errWithheld
	}
}

// Flush sends what has been decided; a body still kept back stays so.
func (h *heldResponse) Flush() {
	if h.state == holdPassing {
		_ = http.NewResponseController(h.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// hijacking for upgrades).
func (h *heldResponse) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// finish decides a response still kept back once the handler is done.
func (h *heldResponse) finish() {
	switch h.state {
	case holdHeaders:
		if h.r.Context().Err() != nil {
			return // the proxy wrote nothing: the client went away
		}
		h.WriteHeader(http.StatusOK)
		if h.state == holdBody {
			h.decide()
		}
	case holdBody:
		h.decide()
	}
}

// decide runs the body phase on what was kept back, then sends it on or
// refuses it; false when refused.
func (h *heldResponse) decide() bool {
	if !h.s.Gate.enter(h.r.Context().Done()) {
		h.state = holdRefused
		return false
	}
	it, _, err := h.tx.WriteResponseBody(h.body.Bytes())
	if it == nil && err == nil {
		it, err = h.tx.ProcessResponseBody()
	}
	h.s.Gate.leave()
	if it != nil || err != nil {
		h.refuse()
		return false
	}
	if ids := leakIDs(h.tx.MatchedRules()); ids != "" && h.s.Detect {
		h.s.count("response_detected")
		h.s.detected(h.r, ids, "The WAF (detect mode) matched data-leakage rules on the upstream's response; it was passed on.")
	}
	h.pass()
	_, werr := h.ResponseWriter.Write(h.body.Bytes())
	return werr == nil
}

// pass sends the status held so far; what follows goes straight through.
func (h *heldResponse) pass() {
	h.state = holdPassing
	h.t.end() // the response phases' matches are in the log before the client has the response
	h.ResponseWriter.WriteHeader(h.status)
}

// refuse replaces the upstream's response with a problem.
func (h *heldResponse) refuse() {
	h.state = holdRefused
	h.t.end()
	h.s.count("response_blocked")
	reqctx.RefuseResponse(h.ResponseWriter, h.r, h.own, reqctx.Refusal{Type: problem.ResponseWithheld, Reason: "waf_response", Stage: "waf",
		Rule: leakIDs(h.tx.MatchedRules()),
		Detail: "The upstream's response looked like a leak of its internals (an error page, a stack trace, source code) and was withheld. " +
			"Give the API operator the request id."})
}
