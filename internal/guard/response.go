package guard

import (
	"bytes"
	"strconv"

	"github.com/rampart-gw/rampart/internal/bytescan"
	"github.com/rampart-gw/rampart/internal/problem"
)

// ResponseHead is an upstream's response head as ParseResponseHead read
// it: views into the block it was read from, valid while the block is. A
// ResponseHead is reused from one response to the next.
type ResponseHead struct {
	Version []byte
	HTTP10  bool
	Code    int
	// Status is the status line after the version: the code and the
	// reason phrase, as net/http's Response.Status ("200 OK").
	Status []byte
	// Fields are the header fields in order, each value without the
	// whitespace around it.
	Fields        []Field
	ContentLength int64 // -1: none
	Chunked       bool  // Transfer-Encoding: chunked
}

// ResponseError is an upstream response the rules refuse: the gateway
// answers its client 502 and closes the upstream connection.
type ResponseError struct {
	Reason string // snake_case, for logs and metrics
	Detail string
}

func (e *ResponseError) Error() string { return "upstream response: " + e.Detail }

func badResponse(reason, detail string) *ResponseError {
	return &ResponseError{Reason: reason, Detail: detail}
}

// ParseResponseHead reads one complete response head (the status line,
// the field lines and the empty line) into h, with the line rules of
// requests (ParseHead): CRLF line ends, no control byte, no obs-fold,
// token field names with no space before the colon. Then, where net/http
// would pick one reading of an ambiguous head and pass the response on,
// it refuses it, as RFC 9112 §6.3 advises for what could split a
// response: more than one Content-Length (even equal ones), Content-Length
// and Transfer-Encoding together, a transfer coding other than one
// chunked, Transfer-Encoding in an HTTP/1.0 response (which net/http
// ignores), and versions other than HTTP/1.0 and HTTP/1.1. The status
// code is three digits from 100 to 599 (RFC 9110 §15), followed by
// nothing or by a space and a reason phrase.
func ParseResponseHead(h *ResponseHead, block []byte) *ResponseError {
	*h = ResponseHead{Fields: h.Fields[:0], ContentLength: -1}
	first := true
	for len(block) > 0 {
		line, rest, ok := splitLine(block)
		block = rest
		if !ok {
			return badResponse("bare_lf", "a line of the response head ends in a bare LF, not CRLF")
		}
		if len(line) == 0 {
			if first {
				return badResponse("malformed_status_line", "the response starts with an empty line")
			}
			break
		}
		if bytescan.HasControl(line) {
			return badResponse("control_character", "the response head holds a control byte (a bare CR, a NUL or another)")
		}
		if first {
			first = false
			if err := statusLine(h, line); err != nil {
				return err
			}
			continue
		}
		name, value, werr := fieldLine(line, "header")
		if werr != nil {
			return badResponse(werr.Reason, "a header line of the response is malformed ("+werr.Reason+")")
		}
		h.Fields = append(h.Fields, Field{name, value})
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if h.ContentLength >= 0 {
				return badResponse("duplicate_content_length", "the response has more than one Content-Length")
			}
			n, ok := decimal(value)
			if !ok {
				return badResponse("invalid_content_length", "the response's Content-Length "+strconv.Quote(problem.Clip(string(value), 30))+" is not a decimal number of bytes")
			}
			h.ContentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if h.Chunked {
				return badResponse("duplicate_transfer_encoding", "the response has more than one Transfer-Encoding")
			}
			if !bytes.EqualFold(value, []byte("chunked")) {
				return badResponse("unsupported_transfer_encoding", "the response's Transfer-Encoding "+strconv.Quote(problem.Clip(string(value), 40))+" is not chunked")
			}
			h.Chunked = true
		}
	}
	switch {
	case first:
		return badResponse("malformed_status_line", "the response head is empty")
	case h.ContentLength >= 0 && h.Chunked:
		return badResponse("content_length_and_transfer_encoding", "the response has both Content-Length and Transfer-Encoding, which frame its body differently")
	case h.Chunked && h.HTTP10:
		return badResponse("transfer_encoding_http10", "an HTTP/1.0 response has Transfer-Encoding, which HTTP/1.0 does not have")
	}
	return nil
}

// statusLine reads HTTP-version SP 3DIGIT [SP reason-phrase].
func statusLine(h *ResponseHead, line []byte) *ResponseError {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return badResponse("malformed_status_line", "the status line "+strconv.Quote(problem.Clip(string(line), 40))+" is not HTTP/1.1 SP code SP reason")
	}
	switch v := line[:sp]; string(v) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		h.HTTP10 = true
	default:
		return badResponse("unsupported_http_version", "the response's version "+strconv.Quote(problem.Clip(string(v), 20))+" is not HTTP/1.1 or HTTP/1.0")
	}
	status := line[sp+1:]
	if len(status) < 3 || !isDigit(status[0]) || !isDigit(status[1]) || !isDigit(status[2]) || (len(status) > 3 && status[3] != ' ') {
		return badResponse("malformed_status_line", "the status line "+strconv.Quote(problem.Clip(string(line), 40))+" has no three-digit status code after one space")
	}
	code := int(status[0]-'0')*100 + int(status[1]-'0')*10 + int(status[2]-'0')
	if code < 100 || code > 599 {
		return badResponse("invalid_status_code", "the response's status code "+strconv.Itoa(code)+" is outside 100 to 599")
	}
	h.Version, h.Code, h.Status = line[:sp], code, status
	return nil
}
