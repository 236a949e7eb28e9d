package guard

import (
	"bytes"
	"net/url"
	"strconv"

	"golang.org/x/net/http/httpguts"

	"github.com/rampart-gw/rampart/internal/bytescan"
	"github.com/rampart-gw/rampart/internal/problem"
)

// Wire follows the HTTP/1.1 framing of one connection's inbound bytes, as
// the gateway's HTTP server will read them, and checks each request's
// header block before the server parses it. It refuses what request
// smuggling is made of: both Content-Length and Transfer-Encoding, a
// duplicate or malformed Content-Length, any transfer coding but chunked,
// obs-fold, bare CR or LF, NUL and other control bytes, invalid header
// names. net/http accepts several of these (it lets Transfer-Encoding win
// over Content-Length, merges identical Content-Lengths, unfolds obs-fold,
// takes bare LF) and answers the rest in plain text; a front proxy that
// frames the same bytes differently then disagrees with the gateway about
// where a request ends.
//
// Header blocks are held back until complete, so a refused block never
// reaches the server in part. Body bytes pass straight through, counted
// by Content-Length or followed chunk by chunk. After an Upgrade or
// CONNECT request, an HTTP/2 preface, or a body whose chunk framing is
// broken (the server refuses that body itself), Wire steps aside: the
// bytes that follow are not HTTP/1.1 requests, or the server closes the
// connection.
type Wire struct {
	// MaxHeader bounds a header block; a larger one is refused with 431.
	MaxHeader int

	state wireState
	left  int64  // body or chunk bytes still to pass
	line  int    // length of the chunk-size or trailer line so far
	hex   int64  // chunk size parsed so far
	ext   bool   // in a chunk extension
	held  []byte // the header block being assembled
}

type wireState uint8

const (
	wireHeader wireState = iota
	wireBody
	wireChunkSize
	wireChunkData
	wireChunkEnd // the CRLF after chunk data
	wireTrailer
	wireOff
)

// WireError is a header block Wire refuses.
type WireError struct {
	Type   problem.Type // malformed-request, or headers-too-large
	Reason string       // machine-readable, for metrics and events
	Detail string
}

// Off reports whether Wire has stepped aside for the rest of the
// connection.
func (w *Wire) Off() bool { return w.state == wireOff }

// Feed appends to out the bytes of in that the server may read now and
// returns it. Bytes of an incomplete header block are held until the next
// Feed. When a header block is refused, Feed returns the error, and out
// holds only what came before that block; the connection must not be fed
// again.
func (w *Wire) Feed(out, in []byte) ([]byte, *WireError) {
	for len(in) > 0 {
		switch w.state {
		case wireOff:
			return append(out, in...), nil
		case wireHeader:
			had := len(w.held)
			w.held = append(w.held, in...)
			end := blockEnd(w.held, max(had-3, 0))
			if end < 0 || end > w.MaxHeader {
				if len(w.held) > w.MaxHeader {
					return out, &WireError{Type: problem.HeadersTooLarge, Reason: "headers_too_large",
						Detail: "The request line and headers exceed " + strconv.Itoa(w.MaxHeader) + " bytes. Send fewer or smaller headers and cookies."}
				}
				return out, nil
			}
			block := w.held[:end]
			next, err := w.check(block)
			if err != nil {
				return out, err
			}
			out = append(out, block...)
			// The block's last LF came in this read (the held bytes had
			// no end), so what follows it is the rest of in.
			in = in[end-had:]
			w.held = w.held[:0]
			w.state = next
			if next == wireBody && w.left == 0 {
				w.state = wireHeader
			}
		case wireBody, wireChunkData:
			n := int(min(int64(len(in)), w.left))
			out = append(out, in[:n]...)
			in = in[n:]
			if w.left -= int64(n); w.left == 0 {
				if w.state == wireBody {
					w.state = wireHeader
				} else {
					w.state, w.line = wireChunkEnd, 0
				}
			}
		default:
			n := w.chunkFraming(in)
			out = append(out, in[:n]...)
			in = in[n:]
		}
	}
	return out, nil
}

// chunkFraming follows chunk-size lines, the CRLF after chunk data and the
// trailer section, byte by byte, and returns how many bytes of in it took.
// It stops after a byte that changes the state.
func (w *Wire) chunkFraming(in []byte) int {
	const maxLine = 4096
	for i, c := range in {
		w.line++
		if w.line > maxLine {
			w.state = wireOff
			return i + 1
		}
		switch w.state {
		case wireChunkSize:
			switch {
			case c == '\n':
				if w.hex == 0 {
					w.state, w.line = wireTrailer, 0
				} else {
					w.state, w.left = wireChunkData, w.hex
				}
				return i + 1
			case w.ext || c == '\r':
			case c == ';':
				w.ext = true
			default:
				d := unhex(c)
				if d < 0 || w.hex > 1<<40 {
					w.state = wireOff // the server refuses the body
					return i + 1
				}
				w.hex = w.hex<<4 | int64(d)
			}
		case wireChunkEnd:
			if c == '\n' {
				w.state, w.line, w.hex, w.ext = wireChunkSize, 0, 0, false
				return i + 1
			}
			if c != '\r' {
				w.state = wireOff
				return i + 1
			}
		case wireTrailer:
			if c == '\n' {
				if w.line <= 2 { // an empty line ends the trailers and the request
					w.state = wireHeader
				}
				w.line = 0
				return i + 1
			}
		}
	}
	return len(in)
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// blockEnd returns the index just past the empty line that ends a header
// block (CRLF CRLF, or a bare LF on either side), searching from start,
// or -1.
func blockEnd(b []byte, start int) int {
	for i := start; i < len(b); i++ {
		// Jump from LF to LF: a head is mostly long lines (a token, a
		// cookie), and IndexByte scans them many bytes at a time.
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return -1
}

func malformed(reason, detail string) *WireError {
	return &WireError{Type: problem.MalformedRequest, Reason: reason, Detail: detail}
}

// controlError names the first control byte of a line of the head.
func controlError(line []byte) *WireError {
	for _, c := range line {
		switch {
		case c == '\r':
			return malformed("bare_cr", "The request head holds a CR that does not end a line. Remove it.")
		case c == 0:
			return malformed("nul_byte", "The request head holds a NUL byte. Remove it.")
		case bytescan.IsControl(c):
			return malformed("control_character", "The request head holds the control byte 0x"+strconv.FormatUint(uint64(c), 16)+". Remove it.")
		}
	}
	return malformed("control_character", "The request head holds a control byte. Remove it.") // not reached: HasControl found one
}

// check validates one complete header block and returns the state that
// follows it, with w.left set for a Content-Length body.
func (w *Wire) check(block []byte) (wireState, *WireError) {
	var (
		first      = true
		http10     bool
		next       = wireBody
		clSeen     bool
		teSeen     bool
		contentLen int64
		hosts      int
		connect    bool
	)
	w.left = 0
	for len(block) > 0 {
		nl := bytes.IndexByte(block, '\n')
		line := block[:nl]
		block = block[nl+1:]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return 0, malformed("bare_lf", "A line of the request head ends in a bare LF. End every line of the request line and headers with CRLF.")
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			if first { // an empty line before the request line
				continue
			}
			break
		}
		if bytescan.HasControl(line) {
			return 0, controlError(line)
		}
		if first {
			first = false
			if string(line) == "PRI * HTTP/2.0" {
				return wireOff, nil // HTTP/2 with prior knowledge
			}
			method, target, version, ok := requestLine(line)
			if !ok {
				return 0, malformed("malformed_request_line", "The request line is not METHOD SP TARGET SP HTTP/1.1. Send one space between its three parts.")
			}
			if !validTarget(method, target) {
				return 0, malformed("invalid_request_target", "The request target "+strconv.Quote(problem.Clip(string(target), 60))+
					" is not a valid URI: a % must begin an escape of two hex digits (send a literal % as %25), and a target starts with /.")
			}
			switch string(version) {
			case "HTTP/1.1":
			case "HTTP/1.0":
				http10 = true
			default:
				return wireOff, nil // the server answers 505 and closes
			}
			if string(method) == "CONNECT" {
				next, connect = wireOff, true
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, malformed("obs_fold", "A header line starts with whitespace (obsolete line folding). Send each header on one line.")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			name := line
			if colon > 0 {
				name = line[:colon]
			}
			return 0, malformed("invalid_header_name", "The header name "+strconv.Quote(problem.Clip(string(name), 60))+" is not a valid token. Header names are letters, digits and !#$%&'*+-.^_`|~, with no space before the colon.")
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if clSeen {
				return 0, malformed("duplicate_content_length", "The request has more than one Content-Length. Send exactly one.")
			}
			clSeen = true
			n, ok := decimal(value)
			if !ok {
				return 0, malformed("invalid_content_length", "Content-Length "+strconv.Quote(problem.Clip(string(value), 30))+" is not a decimal number of bytes.")
			}
			contentLen = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if teSeen {
				return 0, malformed("duplicate_transfer_encoding", "The request has more than one Transfer-Encoding header. Send one: Transfer-Encoding: chunked.")
			}
			teSeen = true
			if !bytes.EqualFold(value, []byte("chunked")) {
				return 0, malformed("unsupported_transfer_encoding", "Transfer-Encoding "+strconv.Quote(problem.Clip(string(value), 40))+" is refused; the only transfer coding accepted is chunked. Compress with Content-Encoding instead.")
			}
		case bytes.EqualFold(name, []byte("Host")):
			if hosts++; hosts > 1 {
				return 0, malformed("duplicate_host", "The request has more than one Host header. Send exactly one.")
			}
			if !httpguts.ValidHostHeader(string(value)) {
				return 0, malformed("invalid_host", "The Host header "+strconv.Quote(problem.Clip(string(value), 60))+" is not a valid host[:port].")
			}
		case bytes.EqualFold(name, []byte("Upgrade")):
			if len(value) > 0 {
				next = wireOff // the connection may change protocol
			}
		}
	}
	switch {
	case clSeen && teSeen:
		return 0, malformed("content_length_and_transfer_encoding", "The request has both Content-Length and Transfer-Encoding, which frame its body differently. Send one of them.")
	case teSeen && http10:
		return 0, malformed("transfer_encoding_http10", "HTTP/1.0 has no Transfer-Encoding. Use HTTP/1.1, or send a Content-Length.")
	case hosts == 0 && !http10 && !connect:
		return 0, malformed("missing_host", "An HTTP/1.1 request must have a Host header. Send Host: with the name the gateway serves.")
	case teSeen:
		if next == wireOff {
			return wireOff, nil
		}
		return wireChunkSize, nil
	}
	w.left = contentLen
	return next, nil
}

// requestLine splits METHOD SP TARGET SP VERSION, each part non-empty and
// separated by exactly one space.
func requestLine(line []byte) (method, target, version []byte, ok bool) {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !isToken(line[:sp1]) {
		return nil, nil, nil, false
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 || bytes.IndexByte(rest[sp2+1:], ' ') >= 0 || bytes.IndexByte(rest, '\t') >= 0 {
		return nil, nil, nil, false
	}
	return line[:sp1], rest[:sp2], rest[sp2+1:], true
}

// validTarget reports a request target net/http would parse: the path of
// an origin-form target ("/a%20b?q") may hold % only as an escape of two
// hex digits (the query is the application's to decode); other forms
// (absolute, "*", a CONNECT authority) are rare and checked the way
// net/http checks them.
func validTarget(method, target []byte) bool {
	if target[0] != '/' {
		if string(method) == "CONNECT" {
			return true // authority-form; the server checks it
		}
		_, err := url.ParseRequestURI(string(target))
		return err == nil
	}
	for i := 0; i < len(target) && target[i] != '?'; i++ {
		if target[i] == '%' && (i+2 >= len(target) || unhex(target[i+1]) < 0 || unhex(target[i+2]) < 0) {
			return false
		}
	}
	return true
}

func decimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isToken reports whether b is an RFC 9110 token (tchar+).
func isToken(b []byte) bool {
	for _, c := range b {
		if !tchar[c] {
			return false
		}
	}
	return len(b) > 0
}

var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
