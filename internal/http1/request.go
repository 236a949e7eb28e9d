// Package http1 is the gateway's HTTP/1.1 codec. On the server side,
// request heads are read once, with the strict rules the wire guard holds
// every request to (guard.ParseHead: one parser, not a checker in front of
// another), into the *http.Request the request path reads, and request
// bodies are framed by Content-Length or by a strictly read chunked
// coding. On the client side, ResponseReader reads an upstream's
// responses with the same line rules (guard.ParseResponseHead) and the
// same chunked reader.
//
// What it reads, net/http reads alike or refuses: FuzzReadRequest feeds
// the same bytes to http.ReadRequest and holds the two to the same
// method, target, version, header, host, framing, body and trailers;
// FuzzReadResponse does the same with http.ReadResponse, and checks each
// refusal net/http does not make against the bytes.
package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/problem"
)

// ErrH2Preface is returned for the HTTP/2 connection preface as a
// connection's first bytes: the connection is HTTP/2 with prior
// knowledge, for an HTTP/2 server to take over.
var ErrH2Preface = errors.New("http1: the HTTP/2 connection preface")

// Reader reads the requests of one connection.
type Reader struct {
	br *bufio.Reader
	// MaxHeader bounds a request head or a trailer section; past it the
	// request is refused (431 for a head).
	MaxHeader int

	started  bool   // a request head was read: the HTTP/2 preface no longer counts
	lastPost bool   // the last request was a POST: a CRLF or two may precede the next
	block    []byte // the head being read, reused
	head     guard.Head
}

// NewReader returns a Reader of br's requests.
func NewReader(br *bufio.Reader, maxHeader int) *Reader {
	return &Reader{br: br, MaxHeader: maxHeader}
}

// ReadRequest reads the next request head and returns the request, its
// body reading from the connection (the caller reads or discards it
// before the next ReadRequest). It returns io.EOF when the connection
// ended cleanly between requests, a *guard.WireError for a request the
// rules refuse (answer it, then close the connection), and ErrH2Preface.
func (r *Reader) ReadRequest() (*http.Request, error) {
	return r.ReadRequestContext(context.Background())
}

// ReadRequestContext is ReadRequest with the request's context: the
// request is made with it, not copied afterwards (Request.WithContext).
func (r *Reader) ReadRequestContext(ctx context.Context) (*http.Request, error) {
	if r.lastPost {
		if err := r.skipCRLF(); err != nil {
			return nil, err
		}
	}
	block, err := r.readHead()
	if err != nil {
		return nil, err
	}
	connStart := !r.started
	r.started = true
	h := &r.head
	if werr := guard.ParseHead(h, block, connStart); werr != nil {
		return nil, werr
	}
	if h.H2Preface {
		return nil, ErrH2Preface
	}
	r.lastPost = string(h.Method) == "POST"
	return r.request(ctx, h)
}

// readHead reads up to and including the empty line that ends a head,
// at most MaxHeader bytes.
func (r *Reader) readHead() ([]byte, error) {
	block, err := readHead(r.br, r.block[:0], r.MaxHeader)
	r.block = block
	if err == errHeadTooLarge {
		return nil, tooLarge(r.MaxHeader)
	}
	return block, err
}

// errHeadTooLarge is readHead's: the head is longer than its limit.
var errHeadTooLarge = errors.New("http1: head too large")

// readHead appends to block what br holds up to and including the empty
// line that ends a head, at most max bytes in all (errHeadTooLarge), and
// returns it. io.EOF means the connection ended before a byte of it.
func readHead(br *bufio.Reader, block []byte, max int) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if len(block)+len(line) > max {
			return block, errHeadTooLarge
		}
		block = append(block, line...)
		switch {
		case err == bufio.ErrBufferFull:
			continue // a line longer than the buffer: go on reading it
		case err == io.EOF && len(block) == 0:
			return block, io.EOF
		case err != nil:
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the connection ended inside a head
			}
			return block, err
		}
		// a line ended: the head ends at an empty one (CRLF, or a bare
		// LF, which the head's parser refuses with its reason)
		if n := len(line); (n == 2 && line[0] == '\r') || n == 1 {
			return block, nil // (an empty line first too: the parser refuses it)
		}
	}
}

// skipCRLF skips a CRLF or two after a POST, as net/http does for old
// clients that end a body with one; other CR and LF mixes are refused.
func (r *Reader) skipCRLF() error {
	b, _ := r.br.Peek(4)
	skip, _, bad := guard.LeadingCRLF(b) // Peek waits for 4 bytes, or the end
	if bad {
		return &guard.WireError{Type: problem.MalformedRequest, Reason: "bare_lf",
			Detail: "The request starts with a bare CR or LF. End every line with CRLF, and send nothing between requests."}
	}
	_, _ = r.br.Discard(skip)
	return nil
}

// request is the *http.Request of a head ParseHead accepted, as
// net/http's ReadRequest would make it. The head becomes one string,
// which the method, target and header values are cut from, and the
// values share one slice (headText): three allocations for any number
// of fields.
func (r *Reader) request(ctx context.Context, h *guard.Head) (*http.Request, error) {
	t := newHeadText(r.block)
	req := (&http.Request{Method: t.at(h.Method), RequestURI: t.at(h.Target), Proto: t.at(h.Version),
		ProtoMajor: 1, ProtoMinor: 1, Header: t.header(h.Fields)}).WithContext(ctx)
	if h.HTTP10 {
		req.ProtoMinor = 0
	}
	u, err := url.ParseRequestURI(req.RequestURI)
	if err != nil {
		return nil, malformed("invalid_request_target", "The request target "+strconv.Quote(req.RequestURI)+" is not a valid URI.")
	}
	req.URL = u
	req.Host = u.Host
	if req.Host == "" && h.HasHost {
		req.Host = string(h.Host)
	}
	delete(req.Header, "Host")
	fixPragma(req.Header)
	conn := req.Header["Connection"]
	req.Close = httpguts.HeaderValuesContainsToken(conn, "close") ||
		(h.HTTP10 && !httpguts.HeaderValuesContainsToken(conn, "keep-alive"))
	switch {
	case h.Chunked:
		delete(req.Header, "Transfer-Encoding")
		req.TransferEncoding = []string{"chunked"}
		req.ContentLength = -1
		if req.Trailer, err = declaredTrailer(req.Header); err != nil {
			return nil, err
		}
		req.Body = &chunkedBody{br: r.br, maxTrailer: r.MaxHeader, trailers: &req.Trailer}
	case h.ContentLength > 0:
		req.ContentLength = h.ContentLength
		req.Body = &lengthBody{br: r.br, left: h.ContentLength}
	default:
		req.Body = http.NoBody
	}
	return req, nil
}

// fixPragma adds Cache-Control: no-cache to a header whose first Pragma
// is no-cache and that has no Cache-Control, as net/http's readers do
// (fixPragmaCacheControl), for requests and responses alike.
func fixPragma(h http.Header) {
	if pragma := h["Pragma"]; len(pragma) > 0 && pragma[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
}

// headText is a head's block made one string, which the views
// ParseHead or ParseResponseHead made into the block are cut from.
type headText struct {
	block []byte
	text  string
}

func newHeadText(block []byte) headText { return headText{block, string(block)} }

// at is b's text; b is within the block, or empty (bytes.Trim's nil).
func (t headText) at(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	o := cap(t.block) - cap(b)
	return t.text[o : o+len(b)]
}

// header is the header of fields, names canonical, values cut from the
// text and sharing one slice: two allocations for any number of fields
// (and the map's growth).
func (t headText) header(fields []guard.Field) http.Header {
	hdr := make(http.Header, len(fields))
	values := make([]string, len(fields))
	for i, f := range fields {
		k, ok := commonKeys[string(f.Name)]
		if !ok {
			k = textproto.CanonicalMIMEHeaderKey(string(f.Name))
		}
		values[i] = t.at(f.Value)
		if vv := hdr[k]; vv != nil {
			hdr[k] = append(vv, values[i])
		} else {
			hdr[k] = values[i : i+1 : i+1]
		}
	}
	return hdr
}

// commonKeys are the canonical names of common request and response
// fields, as most clients and servers send them: found here, a name costs
// no allocation.
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Content-Encoding", "Content-Length", "Content-Type", "Cookie", "Date", "Dnt", "Expect", "Forwarded", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Origin", "Pragma",
		"Priority", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Websocket-Key", "Sec-Websocket-Version", "Te", "Trailer", "Traceparent",
		"Tracestate", "Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Via", "X-Api-Key",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id", "X-Requested-With",
		// responses
		"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Content-Language", "Content-Security-Policy", "Etag", "Expires",
		"Last-Modified", "Link", "Location", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security", "Vary",
		"Www-Authenticate", "X-Content-Type-Options"} {
		m[k] = k
	}
	return m
}()

// declaredTrailer is the Trailer header's fields, the keys a chunked
// body's trailer section may fill; the header goes.
func declaredTrailer(hdr http.Header) (http.Header, error) {
	vv, ok := hdr["Trailer"]
	if !ok {
		return nil, nil
	}
	delete(hdr, "Trailer")
	var t http.Header
	for _, v := range vv {
		for _, k := range bytes.Split([]byte(v), []byte(",")) {
			k = bytes.Trim(k, " \t")
			if len(k) == 0 {
				continue
			}
			key := http.CanonicalHeaderKey(string(k))
			switch key {
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, malformed("invalid_trailer", "The Trailer header names "+key+", which frames a request and cannot be a trailer. Declare only the fields the trailer section sends.")
			}
			if t == nil {
				t = http.Header{}
			}
			t[key] = nil
		}
	}
	return t, nil
}

func malformed(reason, detail string) *guard.WireError {
	return &guard.WireError{Type: problem.MalformedRequest, Reason: reason, Detail: detail}
}

func tooLarge(limit int) *guard.WireError {
	return &guard.WireError{Type: problem.HeadersTooLarge, Reason: "headers_too_large",
		Detail: "The request line and headers exceed " + strconv.Itoa(limit) + " bytes. Send fewer or smaller headers and cookies."}
}
