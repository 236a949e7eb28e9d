package http1

import (
	"bufio"
	"io"
	"net/http"
	"strconv"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-gw/rampart/internal/guard"
)

// ResponseReader reads the responses of one upstream connection, the
// client side of the codec: heads with guard.ParseResponseHead's rules,
// bodies framed as net/http's Transport frames them. What it accepts,
// net/http reads alike (FuzzReadResponse holds the two to the same status,
// header, framing, body and trailers); what it refuses beyond net/http is
// what ParseResponseHead lists.
type ResponseReader struct {
	br *bufio.Reader
	// MaxHeader bounds the heads of one exchange together: the final
	// response's and those of any 1xx before it (as net/http's Transport
	// counts them), and a chunked body's trailer section.
	MaxHeader int

	block []byte // the head being read, reused
	head  guard.ResponseHead
}

// NewResponseReader returns a ResponseReader of br's responses.
func NewResponseReader(br *bufio.Reader, maxHeader int) *ResponseReader {
	return &ResponseReader{br: br, MaxHeader: maxHeader}
}

// ReadResponse reads the final response to req (its method decides
// whether a body follows), reading past 1xx interim responses, and
// returns it with its body reading from the connection. It returns a
// *guard.ResponseError for a response the rules refuse, and for a 101
// Switching Protocols: req asked for no upgrade. Res.Close says whether
// the connection must close after the body (Connection: close, HTTP/1.0
// without keep-alive, a body read to the end of the connection).
func (r *ResponseReader) ReadResponse(req *http.Request) (*http.Response, error) {
	return r.read(req, false)
}

// ReadUpgradeResponse is ReadResponse for a request that asked for an
// upgrade: a 101 Switching Protocols is a final response too. Its Body is
// http.NoBody: what follows its head on the connection is the protocol
// switched to, which the caller reads from the bufio.Reader itself. A 101
// that frames a body (Content-Length, Transfer-Encoding) is refused: no
// 1xx response may (RFC 9110, section 8.6; RFC 9112, section 6.1); so is
// one without Upgrade and Connection: upgrade, which it must send (RFC
// 9110, section 7.8) and without which net/http takes no switch either.
func (r *ResponseReader) ReadUpgradeResponse(req *http.Request) (*http.Response, error) {
	return r.read(req, true)
}

func (r *ResponseReader) read(req *http.Request, upgrade bool) (*http.Response, error) {
	budget := r.MaxHeader
	for {
		block, err := readHead(r.br, r.block[:0], budget)
		r.block = block
		switch {
		case err == errHeadTooLarge:
			return nil, &guard.ResponseError{Reason: "response_headers_too_large",
				Detail: "the response head is over " + strconv.Itoa(r.MaxHeader) + " bytes"}
		case err == io.EOF:
			return nil, io.ErrUnexpectedEOF // as net/http: no response at all
		case err != nil:
			return nil, err
		}
		if rerr := guard.ParseResponseHead(&r.head, block); rerr != nil {
			return nil, rerr
		}
		switch code := r.head.Code; {
		case code == http.StatusSwitchingProtocols && !upgrade:
			return nil, &guard.ResponseError{Reason: "unrequested_upgrade", Detail: "the upstream switched protocols (101) for a request that asked for no upgrade"}
		case code == http.StatusSwitchingProtocols:
			if r.head.ContentLength >= 0 || r.head.Chunked {
				return nil, &guard.ResponseError{Reason: "framed_upgrade", Detail: "the upstream's 101 Switching Protocols frames a body (Content-Length or Transfer-Encoding), which no 1xx response may"}
			}
			// No body: what follows the head is the protocol switched to.
			res := r.status(req)
			res.Body = http.NoBody
			if res.Header.Get("Upgrade") == "" || !httpguts.HeaderValuesContainsToken(res.Header["Connection"], "upgrade") {
				return nil, &guard.ResponseError{Reason: "invalid_upgrade", Detail: "the upstream's 101 Switching Protocols does not name its protocol in Upgrade with Connection: upgrade"}
			}
			return res, nil
		case code < 200:
			budget -= len(block) // 1xx interim responses are read past
			continue
		}
		return r.response(req)
	}
}

// response is the *http.Response of the head just parsed, as net/http's
// ReadResponse makes it: the head becomes one string, which the status
// and header values are cut from, and the values share one slice.
func (r *ResponseReader) response(req *http.Request) (*http.Response, error) {
	h := &r.head
	res := r.status(req)
	fixPragma(res.Header)
	conn := res.Header["Connection"]
	if h.HTTP10 {
		res.Close = httpguts.HeaderValuesContainsToken(conn, "close") || !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	} else if httpguts.HeaderValuesContainsToken(conn, "close") {
		res.Close = true
		delete(res.Header, "Connection") // as net/http: Close says it
	}
	bodiless := req.Method == http.MethodHead || h.Code == http.StatusNoContent || h.Code == http.StatusNotModified
	res.ContentLength = h.ContentLength
	if h.Chunked {
		delete(res.Header, "Transfer-Encoding")
		res.TransferEncoding = []string{"chunked"}
		var err error
		if res.Trailer, err = declaredTrailer(res.Header); err != nil {
			return nil, &guard.ResponseError{Reason: "invalid_trailer", Detail: "the response's Trailer header names a field that frames a message"}
		}
	}
	switch {
	case bodiless:
		// HEAD answers keep the Content-Length of the GET answer; 204
		// and 304 have none to speak of.
		if req.Method != http.MethodHead {
			res.ContentLength = 0
		}
		res.Body = http.NoBody
	case h.Chunked:
		res.Body = &chunkedBody{br: r.br, maxTrailer: r.MaxHeader, trailers: &res.Trailer, upstream: true}
	case h.ContentLength > 0:
		res.Body = &lengthBody{br: r.br, left: h.ContentLength}
	case h.ContentLength == 0:
		res.Body = http.NoBody
	default:
		// Neither Content-Length nor chunked: the body ends with the
		// connection (RFC 9112 §6.3).
		res.Close = true
		res.Body = untilClose{r.br}
	}
	return res, nil
}

// status is the *http.Response of the head just parsed, its status line
// and header, before any framing or body.
func (r *ResponseReader) status(req *http.Request) *http.Response {
	t := newHeadText(r.block)
	h := &r.head
	res := &http.Response{Status: t.at(h.Status), StatusCode: h.Code, Proto: t.at(h.Version), ProtoMajor: 1, ProtoMinor: 1,
		Header: t.header(h.Fields), Request: req}
	if h.HTTP10 {
		res.ProtoMinor = 0
	}
	return res
}

// untilClose is a response body that ends with the connection.
type untilClose struct{ br *bufio.Reader }

func (b untilClose) Read(p []byte) (int, error) { return b.br.Read(p) }
func (untilClose) Close() error                 { return nil }
