package proxy

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-gw/rampart/internal/bytescan"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// head is the header section of an upstream request: the client's
// sanitised header, then the fields the gateway sets over it (the
// forwarding headers, the stages' reqctx.State.UpstreamHeader, an
// upgrade's Connection and Upgrade). A field replaces the client's header
// of its name, a later field an earlier one, and a field with no values
// removes the header.
//
// The synchronous client writes a head straight to the connection (write):
// no header map is built, nothing is sorted, and the inbound value slices
// are only read. net/http's Transport gets the same header as a map
// (header).
type head struct {
	in      http.Header
	set     []reqctx.Field
	upgrade string      // the upgrade the client asked for; "" for none
	std     http.Header // header(), once built

	own    [4]string // X-Forwarded-For, X-Forwarded-Host, X-Request-Id, Traceparent
	setBuf [10]reqctx.Field
}

var (
	protoHTTP   = []string{"http"}
	protoHTTPS  = []string{"https"}
	emptyUA     = []string{""}
	connUpgrade = []string{"Upgrade"}
)

// newHead returns the upstream head of r: its header (sanitised by the
// earlier stages), the forwarding headers, and what the stages set in st.
func newHead(r *http.Request, st *reqctx.State) *head {
	h := &head{in: r.Header, upgrade: st.Upgrade, own: [4]string{st.AccessRecord.ClientIP, r.Host, st.RequestID, st.TraceParent}}
	proto := protoHTTP
	if st.TLS {
		proto = protoHTTPS
	}
	h.set = append(h.setBuf[:0],
		reqctx.Field{Name: "X-Forwarded-For", Values: h.own[0:1:1]},
		reqctx.Field{Name: "X-Forwarded-Proto", Values: proto},
		reqctx.Field{Name: "X-Forwarded-Host", Values: h.own[1:2:2]},
		reqctx.Field{Name: "X-Request-Id", Values: h.own[2:3:3]})
	if st.TraceParent != "" {
		h.set = append(h.set, reqctx.Field{Name: "Traceparent", Values: h.own[3:4:4]})
	}
	// The gateway's own cookies (challenge passes, dashboard and portal
	// sessions) stay with the gateway.
	if cookies, changed := guard.StripGatewayCookies(r.Header["Cookie"]); changed {
		h.set = append(h.set, reqctx.Field{Name: "Cookie", Values: cookies})
	}
	for _, f := range st.UpstreamHeader {
		h.setField(f)
	}
	if st.Upgrade != "" {
		h.setField(reqctx.Field{Name: "Connection", Values: connUpgrade})
		h.setField(reqctx.Field{Name: "Upgrade", Values: []string{st.Upgrade}})
	}
	return h
}

func (h *head) setField(f reqctx.Field) {
	if i := reqctx.FieldIndex(h.set, f.Name); i >= 0 {
		h.set[i].Values = f.Values
		return
	}
	h.set = append(h.set, f)
}

func (h *head) isSet(name string) bool { return reqctx.FieldIndex(h.set, name) >= 0 }

// header returns the head as a map for net/http's Transport. A request
// without a User-Agent gets an empty one, which keeps net/http from
// adding its own.
func (h *head) header() http.Header {
	if h.std != nil {
		return h.std
	}
	m := make(http.Header, len(h.in)+len(h.set)+1)
	for k, vs := range h.in {
		m[k] = vs
	}
	// Fields as write sends them: net/http's Transport would refuse the
	// whole request for one bad name or value.
	for _, f := range h.set {
		switch {
		case !httpguts.ValidHeaderFieldName(f.Name):
		case len(f.Values) == 0:
			delete(m, f.Name)
		default:
			m[f.Name] = cleanValues(f.Values)
		}
	}
	if _, ok := m["User-Agent"]; !ok {
		m["User-Agent"] = emptyUA
	}
	h.std = m
	return m
}

// writable says whether write can send req with this head: a Host header
// that is ASCII and has no IPv6 zone (net/http rewrites those).
func (h *head) writable(req *http.Request) bool {
	host := hostOf(req)
	return httpguts.ValidHostHeader(host) && !strings.Contains(host, "%")
}

func hostOf(req *http.Request) string {
	if req.Host != "" {
		return req.Host
	}
	return req.URL.Host
}

// framedByWriter are the headers write sets itself or never sends.
func framedByWriter(name string) bool {
	switch name {
	case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

var errShortBody = errors.New("request body shorter than its Content-Length")

// write sends req's request line, this head and req's body (of
// req.ContentLength bytes, or none) to w, as HTTP/1.1. What reaches the
// upstream is what Request.Write would send, in another order: a name
// that is not a token is dropped, and a value's control characters
// become spaces, so no value (a consumer id taken from a token, say) can
// start a header of its own.
func (h *head) write(w *bufio.Writer, req *http.Request) error {
	if err := h.writeHead(w, req); err != nil {
		return err
	}
	if req.Body == nil {
		return nil
	}
	return writeBody(w, req.Body, req.ContentLength)
}

// writeHead writes req's request line and this head, as write does.
func (h *head) writeHead(w *bufio.Writer, req *http.Request) error {
	_, _ = w.WriteString(req.Method)
	_ = w.WriteByte(' ')
	writeRequestURI(w, req.URL)
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = w.WriteString(hostOf(req))
	_, _ = w.WriteString("\r\n")
	n := req.ContentLength
	if req.Body == nil {
		n = 0
	}
	// As net/http: a length for any body, and a zero one for the methods
	// that usually carry one; a body of unknown length is chunked.
	if n < 0 {
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
	} else if n > 0 || req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
		var b [20]byte
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.Write(strconv.AppendInt(b[:0], n, 10))
		_, _ = w.WriteString("\r\n")
	}
	for k, vs := range h.in {
		if !framedByWriter(k) && !h.isSet(k) {
			writeField(w, k, vs)
		}
	}
	for _, f := range h.set {
		if !framedByWriter(f.Name) {
			writeField(w, f.Name, f.Values)
		}
	}
	_, err := w.WriteString("\r\n")
	return err
}

// writeBody writes n bytes of body (none for n == 0; for n < 0, all of
// it in the chunked coding), and closes it.
func writeBody(w *bufio.Writer, body io.ReadCloser, n int64) error {
	defer body.Close()
	if n < 0 {
		return writeChunked(w, body)
	}
	if n == 0 {
		return nil
	}
	if _, err := io.CopyN(w, body, n); err != nil {
		if err == io.EOF {
			err = errShortBody
		}
		return err
	}
	return nil
}

// writeChunked writes body in the chunked coding, a chunk for each read,
// each sent at once: a body of unknown length may be a stream. It sends
// no trailer (nor does the Transport for the outbound request).
func writeChunked(w *bufio.Writer, body io.Reader) error {
	buf := make([]byte, 16<<10)
	var size [16]byte
	for {
		n, err := body.Read(buf)
		if n > 0 {
			_, _ = w.Write(strconv.AppendUint(size[:0], uint64(n), 16))
			_, _ = w.WriteString("\r\n")
			_, _ = w.Write(buf[:n])
			_, _ = w.WriteString("\r\n")
			if ferr := w.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			_, _ = w.WriteString("0\r\n\r\n")
			return nil // flushed by the caller
		}
		if err != nil {
			return err
		}
	}
}

func writeRequestURI(w *bufio.Writer, u *url.URL) {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	_, _ = w.WriteString(p)
	if u.ForceQuery || u.RawQuery != "" {
		_ = w.WriteByte('?')
		_, _ = w.WriteString(u.RawQuery)
	}
}

func writeField(w *bufio.Writer, name string, values []string) {
	if len(values) == 0 || !httpguts.ValidHeaderFieldName(name) {
		return
	}
	for _, v := range values {
		_, _ = w.WriteString(name)
		_, _ = w.WriteString(": ")
		_, _ = w.WriteString(cleanValue(v))
		_, _ = w.WriteString("\r\n")
	}
}

// cleanValue returns v with each control character (HTAB aside) as a
// space and without surrounding whitespace; v itself, with no copy, in
// the common case where there is nothing to change.
func cleanValue(v string) string {
	if !bytescan.HasControl(v) && (v == "" || (!isSpace(v[0]) && !isSpace(v[len(v)-1]))) {
		return v
	}
	b := []byte(v)
	for i, c := range b {
		if bytescan.IsControl(c) {
			b[i] = ' '
		}
	}
	return strings.Trim(string(b), " \t")
}

// cleanValues returns vs with each value as cleanValue returns it; vs
// itself when none changes.
func cleanValues(vs []string) []string {
	for i, v := range vs {
		if c := cleanValue(v); c != v {
			out := slices.Clone(vs)
			out[i] = c
			for j := i + 1; j < len(out); j++ {
				out[j] = cleanValue(out[j])
			}
			return out
		}
	}
	return vs
}

// isSpace: CR and LF are control bytes, which HasControl finds.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }
