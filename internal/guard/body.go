package guard

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// ErrBodyTooLarge is returned by a limited body once it read past its
// limit.
var ErrBodyTooLarge = errors.New("request body too large")

// BodyLimit is stage 8's size guard: a declared Content-Length over the
// limit is refused at once; a chunked or lying body is cut off when it
// streams past the limit, and the proxy answers 413.
type BodyLimit struct {
	Max int64
}

// Name names the stage in traces and docs/architecture.md (stage 8, body size).
func (b *BodyLimit) Name() string { return "body_limit" }

// Wrap implements the gateway's Stage.
func (b *BodyLimit) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := reqctx.From(r.Context())
		st.MaxBodyBytes = b.Max
		if r.ContentLength > b.Max {
			st.BytesIn = 0
			RefuseBodyTooLarge(w, r, b.Max)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &limitedBody{rc: r.Body, left: b.Max, st: st}
		}
		next.ServeHTTP(w, r)
	})
}

// HasBody reports whether the request carries a body: a declared
// non-zero length, or chunked.
func HasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// ReadBody returns the whole request body, read once through the size
// guard and kept in the request state for the stages after (body
// structure, schema, WAF). Each call leaves r.Body reading from the
// start, for whoever consumes it next (the proxy last). When the body is
// over the limit or too slow it answers 413 or 408 and reports false; a
// client gone mid-body aborts the handler.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	st := reqctx.From(r.Context())
	if !st.BodyBuffered {
		body, err := readAll(r.Body, r.ContentLength, st.MaxBodyBytes)
		if err != nil {
			RefuseBodyError(w, r, err)
			return nil, false
		}
		st.Body, st.BodyBuffered = body, true
		r.ContentLength, r.TransferEncoding = int64(len(body)), nil
	}
	r.Body = BodyReader(st.Body)
	return st.Body, true
}

// BodyReader is a request body over bytes already read: one allocation,
// where io.NopCloser(bytes.NewReader(b)) costs two.
func BodyReader(b []byte) io.ReadCloser {
	br := &bufferedBody{}
	br.Reset(b)
	return br
}

type bufferedBody struct{ bytes.Reader }

func (*bufferedBody) Close() error { return nil }

// DigestFields carry a digest of a message's body: a stage that changes
// the body removes them, since they no longer match.
var DigestFields = []string{"Content-Md5", "Digest", "Content-Digest", "Repr-Digest"}

// readAll reads a body whose Content-Length is n (-1: unknown) into one
// buffer of that size when the limit allows it, or grows one as it
// reads.
func readAll(body io.Reader, n, limit int64) ([]byte, error) {
	if n <= 0 || limit > 0 && n > limit || n > 64<<20 {
		return io.ReadAll(body)
	}
	buf := make([]byte, n, n+1)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	// the framing ends the body here; a reader that says otherwise (a
	// limit, a fault) is heard
	if m, err := body.Read(buf[n : n+1]); m > 0 || err != nil && err != io.EOF {
		rest, err2 := io.ReadAll(body)
		if err == nil || err == io.EOF {
			err = err2
		}
		if err != nil {
			return nil, err
		}
		return append(buf[:n+int64(m)], rest...), nil
	}
	return buf, nil
}

// IsJSON reports whether a media type (as mime.ParseMediaType returns it:
// lower case, no parameters) is JSON: application/json and the +json
// structured syntax.
func IsJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// IsXML reports application/xml, text/xml and the +xml structured syntax.
func IsXML(mt string) bool {
	return mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml")
}

// IdentityEncoded reports whether a message with header h carries its body
// as is (no Content-Encoding, or identity), so a stage can read it without
// decompressing.
func IdentityEncoded(h http.Header) bool {
	ce := h.Get("Content-Encoding")
	return ce == "" || strings.EqualFold(ce, "identity")
}

// StatusClientClosed is logged when the client went away first (nginx's
// 499).
const StatusClientClosed = 499

// RefuseBodyError answers a request whose body could not be read: the
// client's fault, never the upstream's. Over the limit: 413; too slow:
// 408; framing the client broke (a chunk size that is not hex, HTTP/2 DATA
// beyond content-length): 400 malformed-request, and the connection
// closes; the client gone: nothing to answer, the access log says 499
// and the handler is aborted.
func RefuseBodyError(w http.ResponseWriter, r *http.Request, err error) {
	st := reqctx.From(r.Context())
	var br BodyRefusal
	if errors.As(err, &br) {
		reqctx.Refuse(w, r, br.Refusal())
		return
	}
	switch {
	case st.BodyTooLarge || errors.Is(err, ErrBodyTooLarge):
		RefuseBodyTooLarge(w, r, st.MaxBodyBytes)
		return
	case st.BodyTimedOut:
		RefuseBodyTimeout(w, r)
		return
	}
	reason, detail := "", ""
	var we *WireError
	switch {
	case errors.As(err, &we): // the HTTP/1.1 server's own reader refused the framing
		reason, detail = we.Reason, we.Detail
	case st.Wire != nil:
		reason, detail = st.Wire.BodyFault()
	}
	if reason == "" {
		if r.Context().Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			st.Status = StatusClientClosed // the client went away mid-body
			panic(http.ErrAbortHandler)
		}
		reason, detail = "malformed_body", "The request body's framing is malformed (for HTTP/1.1, chunk sizes in hex and CRLF after each chunk; for HTTP/2, no more DATA than content-length). Send the body as its framing declares it."
	}
	w.Header().Set("Connection", "close")
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.MalformedRequest, Reason: reason, Stage: "body", Rule: "http_framing", Detail: detail})
}

// BodyRefusal is an error of a stage's body reader that says how the
// request is refused (a gRPC message over its limit).
type BodyRefusal interface {
	error
	Refusal() reqctx.Refusal
}

// RefuseBodyTimeout answers 408.
func RefuseBodyTimeout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.RequestTimeout, Reason: "body_timeout", Stage: "body", Rule: "body_timeout",
		Detail: "The request body did not arrive in time. Send the body promptly after the headers."})
}

// RefuseBodyTooLarge answers 413.
func RefuseBodyTooLarge(w http.ResponseWriter, r *http.Request, limit int64) {
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.PayloadTooLarge, Reason: "body_too_large", Stage: "body",
		Rule:   "max_body_bytes",
		Detail: "The request body is larger than the " + strconv.FormatInt(limit, 10) + " bytes this endpoint accepts. Send a smaller body."})
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	st   *reqctx.State
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, ErrBodyTooLarge
	}
	// Read one byte past the limit to tell "exactly at" from "over".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.rc.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		l.st.BodyTimedOut = true
	}
	l.left -= int64(n)
	l.st.BytesIn += int64(n)
	if l.left < 0 {
		l.st.BodyTooLarge = true
		return 0, ErrBodyTooLarge
	}
	return n, err
}

func (l *limitedBody) Close() error { return l.rc.Close() }
