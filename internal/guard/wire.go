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
// the gateway's HTTP server will read them, and checks each message before
// the server parses it. It refuses what request smuggling is made of: both
// Content-Length and Transfer-Encoding, a duplicate or malformed
// Content-Length, any transfer coding but chunked, obs-fold, bare CR or
// LF, NUL and other control bytes, invalid header names, and a chunked
// body whose framing is not exactly RFC 9112's. net/http accepts several
// of these (it lets Transfer-Encoding win over Content-Length, merges
// identical Content-Lengths, unfolds obs-fold, takes bare LF, reads any
// HTTP/1.x version) and answers the rest in plain text; a front proxy that
// frames the same bytes differently then disagrees with the gateway about
// where a request ends.
//
// Header blocks, chunk-size lines, the CRLF after chunk data and trailer
// sections are held back until complete, so a refused one never reaches
// the server in part. Body bytes pass straight through, counted by
// Content-Length or by the chunk sizes.
//
// Wire never steps aside on a request's say-so. After a request that asks
// for a protocol switch (Upgrade), the bytes that follow are held,
// unchecked and unpassed, until the gateway says what happened: Tunnel
// once a 101 was relayed (the rest is not HTTP), Resume otherwise (the
// held bytes are checked as the next request). Only an HTTP/2 preface as
// the connection's first bytes turns it off at once: net/http then serves
// HTTP/2, whose framing has no such ambiguity.
type Wire struct {
	// MaxHeader bounds a header block or a trailer section; a larger one
	// is refused with 431.
	MaxHeader int

	state    wireState
	after    wireState // the state once a Content-Length body ends: wireHeader or wireUpgrade
	left     int64     // body or chunk bytes still to pass
	held     []byte    // the block or line being assembled, or the bytes held after an upgrade request
	started  bool      // a request head was seen: an HTTP/2 preface no longer switches protocols
	lastPost bool      // the last request was a POST: net/http skips up to 4 CR or LF bytes before the next
	head     Head      // the last request head, its fields' capacity kept

	// HTTP10Hosts has one entry per HTTP/1.0 request head passed, in
	// order: whether it had a Host field. net/http reads a missing Host
	// and an empty one alike (Request.Host ""), and the WAF's rules tell
	// them apart (920280, 920290). The caller takes the entries as it
	// serves the requests and truncates the slice.
	HTTP10Hosts []bool
}

type wireState uint8

const (
	wireHeader    wireState = iota
	wireBody                // Content-Length bytes
	wireChunkSize           // a chunk-size line
	wireChunkData
	wireChunkEnd // the CRLF after chunk data
	wireTrailer  // the trailer section, up to its empty line
	wireUpgrade  // after a request with Upgrade: hold until Tunnel or Resume
	wireOff
)

// WireError is a message Wire refuses.
type WireError struct {
	Type   problem.Type // malformed-request, headers-too-large or http-version-not-supported
	Reason string       // machine-readable, for metrics and events
	Detail string
	// InBody is set when the refusal is of a chunked body's framing: the
	// request head already reached the server, which is reading the body.
	InBody bool
}

// Error implements error: the detail, for the client.
func (e *WireError) Error() string { return e.Detail }

// Off reports whether Wire has stepped aside for the rest of the
// connection.
func (w *Wire) Off() bool { return w.state == wireOff }

// Holding reports whether Wire holds the bytes after an upgrade request,
// waiting for Tunnel or Resume.
func (w *Wire) Holding() bool { return w.state == wireUpgrade }

// Tunnel turns Wire off after the connection switched protocols (the
// upstream answered 101 and the gateway relayed it), and returns the bytes
// it held, which belong to the new protocol.
func (w *Wire) Tunnel() []byte {
	held := w.held
	w.held, w.state = nil, wireOff
	return held
}

// Resume takes up checking after an upgrade request that did not switch
// protocols: the held bytes are the next request. It appends what may pass
// to out, as Feed does.
func (w *Wire) Resume(out []byte) ([]byte, *WireError) {
	if w.state != wireUpgrade {
		return out, nil
	}
	held := w.held
	w.held, w.state = nil, wireHeader
	return w.Feed(out, held)
}

// Feed appends to out the bytes of in that the server may read now and
// returns it. Bytes of an incomplete block or line are held until the next
// Feed. When a message is refused, Feed returns the error, and out holds
// only what came before it; the connection must not be fed again.
func (w *Wire) Feed(out, in []byte) ([]byte, *WireError) {
	for len(in) > 0 {
		switch w.state {
		case wireOff:
			return append(out, in...), nil
		case wireUpgrade:
			if len(w.held)+len(in) > w.MaxHeader {
				return out, malformed("data_before_upgrade", "The client sent more than "+strconv.Itoa(w.MaxHeader)+
					" bytes after an Upgrade request before the answer to it. Wait for 101 Switching Protocols before sending data for the new protocol.")
			}
			w.held = append(w.held, in...)
			return out, nil
		case wireHeader:
			had := len(w.held)
			w.held = append(w.held, in...)
			if w.lastPost {
				// net/http discards up to 4 CR or LF bytes after a POST
				// (old clients end a body with CRLF). Pass only a CRLF or
				// two; wait until it can tell.
				skip, wait, bad := leadingCRLF(w.held)
				if wait {
					return out, nil
				}
				if bad {
					return out, malformed("bare_lf", "The request starts with a bare CR or LF. End every line with CRLF, and send nothing between requests.")
				}
				out = append(out, w.held[:skip]...)
				w.held = w.held[skip:]
				had = max(had-skip, 0)
				w.lastPost = false
			}
			end := blockEnd(w.held, max(had-3, 0))
			if end < 0 || end > w.MaxHeader {
				if len(w.held) > w.MaxHeader {
					return out, tooLarge(w.MaxHeader)
				}
				return out, nil
			}
			block := w.held[:end]
			if err := w.check(block); err != nil {
				return out, err
			}
			out = append(out, block...)
			// What follows the block is still in held: feed it on.
			in = w.rest(in, end)
		case wireBody, wireChunkData:
			n := int(min(int64(len(in)), w.left))
			out = append(out, in[:n]...)
			in = in[n:]
			if w.left -= int64(n); w.left == 0 {
				if w.state == wireBody {
					w.state = w.after
				} else {
					w.state = wireChunkEnd
				}
			}
		case wireChunkSize, wireChunkEnd:
			had := len(w.held)
			w.held = append(w.held, in...)
			nl := bytes.IndexByte(w.held[had:], '\n')
			if nl < 0 {
				if len(w.held) >= maxChunkLine {
					return out, chunkError("chunk_line_too_long", "A chunk-size line of the request body is longer than "+strconv.Itoa(maxChunkLine)+" bytes. Send short chunk extensions, or none.")
				}
				return out, nil
			}
			end := had + nl + 1
			line := w.held[:end]
			if err := w.chunkLine(line); err != nil {
				return out, err
			}
			out = append(out, line...)
			in = w.rest(in, end)
		case wireTrailer:
			had := len(w.held)
			w.held = append(w.held, in...)
			end := trailerEnd(w.held, max(had-3, 0))
			if end < 0 || end > w.MaxHeader {
				if len(w.held) > w.MaxHeader {
					return out, chunkError("trailer_too_large", "The trailer section of the chunked request body exceeds "+strconv.Itoa(w.MaxHeader)+" bytes. Send fewer trailer fields.")
				}
				return out, nil
			}
			block := w.held[:end]
			if err := checkTrailer(block); err != nil {
				return out, err
			}
			out = append(out, block...)
			in = w.rest(in, end)
			w.state = w.after
		}
	}
	return out, nil
}

// rest empties held, whose first end bytes passed, and returns what of
// in follows them. held always ends with in, and the bytes held before in
// never hold a complete block or line (it would have been taken then), so
// end falls within in: no copy is needed.
func (w *Wire) rest(in []byte, end int) []byte {
	in = in[end+len(in)-len(w.held):]
	w.held = w.held[:0]
	return in
}

// maxChunkLine bounds a chunk-size line as net/http does (its
// maxLineLength).
const maxChunkLine = 4096

// leadingCRLF looks at the bytes before a request that follows a POST,
// which net/http discards when they are CR or LF (up to four). It returns
// how many to pass (a CRLF or two), or wait when it cannot tell yet, or
// bad for any other mix of CR and LF.
func leadingCRLF(b []byte) (skip int, wait, bad bool) {
	n := 0
	for n < len(b) && n < 4 && (b[n] == '\r' || b[n] == '\n') {
		n++
	}
	if n == 0 {
		return 0, false, false
	}
	if n == len(b) && n < 4 {
		return 0, true, false // net/http peeks four bytes before it discards
	}
	switch string(b[:n]) {
	case "\r\n", "\r\n\r\n":
		return n, false, false
	}
	return 0, false, true
}

// chunkLine checks a complete chunk-size line, or the CRLF after chunk
// data, and moves to the state after it.
func (w *Wire) chunkLine(line []byte) *WireError {
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return chunkError("bare_lf", "A line of the chunked request body ends in a bare LF. End chunk-size lines and chunk data with CRLF.")
	}
	line = line[:len(line)-2]
	if w.state == wireChunkEnd {
		if len(line) != 0 {
			return chunkError("invalid_chunk_end", "Chunk data of the request body is longer than its chunk size says, or is not followed by CRLF. Send exactly the number of bytes each chunk-size line announces, then CRLF.")
		}
		w.state = wireChunkSize
		return nil
	}
	size, err := chunkSize(line)
	if err != nil {
		return err
	}
	if size == 0 {
		w.state = wireTrailer
	} else {
		w.state, w.left = wireChunkData, size
	}
	return nil
}

// ChunkSize parses a chunk-size line without its CRLF, as Wire does: the
// size, or the refusal.
func ChunkSize(line []byte) (int64, *WireError) { return chunkSize(line) }

// CheckTrailer checks a complete trailer section (its field lines and the
// empty line that ends it) as Wire does.
func CheckTrailer(block []byte) *WireError { return checkTrailer(block) }

// LeadingCRLF says how many of the CR and LF bytes that start b may be
// skipped before the request that follows a POST (a CRLF or two), or
// that it cannot tell yet (wait), or that they are refused (bad).
func LeadingCRLF(b []byte) (skip int, wait, bad bool) { return leadingCRLF(b) }

// MaxChunkLine bounds a chunk-size line.
const MaxChunkLine = maxChunkLine

// chunkSize parses a chunk-size line without its CRLF: 1 to 15 hex
// digits, then nothing or a chunk extension (';' and no control byte).
// net/http takes the same, and also whitespace after the size, which is
// refused here as RFC 9112 does not allow it.
func chunkSize(line []byte) (int64, *WireError) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d := unhex(line[i])
		if d < 0 {
			break
		}
		if i == 15 {
			return 0, chunkError("chunk_size_too_large", "A chunk size of the request body has more than 15 hex digits. Send the body in smaller chunks.")
		}
		n = n<<4 | int64(d)
	}
	rest := line[i:]
	switch {
	case i == 0:
		return 0, chunkError("invalid_chunk_size", "A chunk-size line of the request body, "+strconv.Quote(problem.Clip(string(line), 30))+
			", does not start with the size in hex digits (no sign, no 0x prefix, no spaces). Send the size as hex, as in 1a for 26 bytes.")
	case len(rest) > 0 && rest[0] != ';':
		return 0, chunkError("invalid_chunk_size", "A chunk-size line of the request body, "+strconv.Quote(problem.Clip(string(line), 30))+
			", has something other than a chunk extension after the size. Send the size in hex digits alone, or followed by ;name=value.")
	case bytescan.HasControl(rest):
		return 0, chunkError("control_character", "A chunk extension of the request body holds a control byte. Remove it.")
	}
	return n, nil
}

// trailerEnd returns the index just past the empty line that ends a
// trailer section (which may be that empty line alone), or -1.
func trailerEnd(b []byte, start int) int {
	if len(b) >= 1 && b[0] == '\n' {
		return 1 // checkTrailer refuses the bare LF
	}
	if len(b) >= 2 && b[0] == '\r' && b[1] == '\n' {
		return 2
	}
	return blockEnd(b, start)
}

// checkTrailer checks a trailer section: field lines as strict as a
// request head's, none that frames or routes the request.
func checkTrailer(block []byte) *WireError {
	for len(block) > 0 {
		line, rest, ok := splitLine(block)
		block = rest
		if !ok {
			return chunkError("bare_lf", "A trailer line of the chunked request body ends in a bare LF. End every line with CRLF.")
		}
		if len(line) == 0 {
			return nil
		}
		var err *WireError
		if bytescan.HasControl(line) {
			err = controlError(line)
		} else {
			var name []byte
			if name, _, err = fieldLine(line, "trailer"); err == nil {
				for _, framing := range []string{"Content-Length", "Transfer-Encoding", "Host", "Trailer"} {
					if bytes.EqualFold(name, []byte(framing)) {
						err = malformed("invalid_trailer", "The trailer section of the chunked request body holds "+framing+
							", which frames or routes a request and is not allowed in trailers. Send it in the request head.")
					}
				}
			}
		}
		if err != nil {
			err.InBody = true
			return err
		}
	}
	return nil
}

// splitLine returns the first line of block without its CRLF, and what
// follows; ok is false when the line ends in a bare LF. block holds an LF.
func splitLine(block []byte) (line, rest []byte, ok bool) {
	nl := bytes.IndexByte(block, '\n')
	line, rest = block[:nl], block[nl+1:]
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return nil, rest, false
	}
	return line[:len(line)-1], rest, true
}

// fieldLine checks a header or trailer field line without its CRLF, not
// empty and free of control bytes: no obs-fold, a token name right before
// the colon. It returns the name, and the value without the whitespace
// around it.
func fieldLine(line []byte, what string) (name, value []byte, err *WireError) {
	if line[0] == ' ' || line[0] == '\t' {
		return nil, nil, malformed("obs_fold", "A "+what+" line starts with whitespace (obsolete line folding). Send each "+what+" on one line.")
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		name := line
		if colon > 0 {
			name = line[:colon]
		}
		return nil, nil, malformed("invalid_header_name", "The "+what+" name "+strconv.Quote(problem.Clip(string(name), 60))+
			" is not a valid token. Names are letters, digits and !#$%&'*+-.^_`|~, with no space before the colon.")
	}
	return line[:colon], bytes.Trim(line[colon+1:], " \t"), nil
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

func chunkError(reason, detail string) *WireError {
	return &WireError{Type: problem.MalformedRequest, Reason: reason, Detail: detail, InBody: true}
}

func tooLarge(limit int) *WireError {
	return &WireError{Type: problem.HeadersTooLarge, Reason: "headers_too_large",
		Detail: "The request line and headers exceed " + strconv.Itoa(limit) + " bytes. Send fewer or smaller headers and cookies."}
}

// controlError names the first control byte of a line of the head.
func controlError(line []byte) *WireError {
	for _, c := range line {
		switch {
		case c == '\r':
			return malformed("bare_cr", "The request holds a CR that does not end a line. Remove it.")
		case c == 0:
			return malformed("nul_byte", "The request holds a NUL byte. Remove it.")
		case bytescan.IsControl(c):
			return malformed("control_character", "The request holds the control byte 0x"+strconv.FormatUint(uint64(c), 16)+". Remove it.")
		}
	}
	return malformed("control_character", "The request holds a control byte. Remove it.") // not reached: HasControl found one
}

// Head is a request head as ParseHead read it: views into the block it
// was read from, valid while the block is. A Head is reused from one
// request to the next (its Fields keep their capacity).
type Head struct {
	Method, Target, Version []byte
	HTTP10                  bool
	// Fields are the header fields in order, each value without the
	// whitespace around it.
	Fields        []Field
	ContentLength int64 // -1: none
	Chunked       bool  // Transfer-Encoding: chunked
	HasHost       bool
	Host          []byte
	Upgrade       bool // an Upgrade field with a value: the connection may change protocol
	// Continue is set for Expect: 100-continue, the only expectation
	// accepted (an HTTP/1.0 client's is ignored, RFC 9110 §10.1.1).
	Continue bool
	// H2Preface is set for the HTTP/2 connection preface as the
	// connection's first bytes (PRI * HTTP/2.0); nothing else is.
	H2Preface bool
}

// Field is one header field line.
type Field struct{ Name, Value []byte }

// ParseHead reads one complete request head (the request line, the
// field lines and the empty line, as blockEnd delimits it) with the
// rules Wire holds every request to, into h. connStart says it is the
// connection's first request, where the HTTP/2 preface may come.
func ParseHead(h *Head, block []byte, connStart bool) *WireError {
	*h = Head{Fields: h.Fields[:0], ContentLength: -1}
	first := true
	hosts := 0
	for len(block) > 0 {
		line, rest, ok := splitLine(block)
		block = rest
		if !ok {
			return malformed("bare_lf", "A line of the request head ends in a bare LF. End every line of the request line and headers with CRLF.")
		}
		if len(line) == 0 {
			if first {
				return malformed("empty_line_before_request", "The request starts with an empty line. Send the request line first, and nothing between requests.")
			}
			break
		}
		if bytescan.HasControl(line) {
			return controlError(line)
		}
		if first {
			first = false
			if string(line) == "PRI * HTTP/2.0" {
				if connStart {
					h.H2Preface = true // HTTP/2 with prior knowledge
					return nil
				}
				return malformed("h2_preface_mid_connection", "The HTTP/2 connection preface came after HTTP/1.1 requests on the same connection. Open a new connection for HTTP/2.")
			}
			method, target, version, ok := requestLine(line)
			if !ok {
				return malformed("malformed_request_line", "The request line is not METHOD SP TARGET SP HTTP/1.1. Send one space between its three parts.")
			}
			switch v := string(version); {
			case v == "HTTP/1.1":
			case v == "HTTP/1.0":
				h.HTTP10 = true
			case len(v) == 8 && v[:5] == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]):
				// Well formed, but not served: HTTP/1.2-1.9 (which
				// net/http would read as HTTP/1.1), HTTP/0.9, HTTP/2.0.
				return &WireError{Type: problem.HTTPVersionNotSupported, Reason: "unsupported_http_version",
					Detail: "The request's protocol version " + v + " is not served. Send HTTP/1.1 (or HTTP/2 over TLS with ALPN)."}
			default:
				return malformed("malformed_http_version", "The request line's version "+strconv.Quote(problem.Clip(v, 20))+
					" is not HTTP/ followed by a digit, a dot and a digit. Send HTTP/1.1.")
			}
			if string(method) == "CONNECT" {
				return malformed("connect_method", "The gateway is a reverse proxy, not a forward proxy: CONNECT is refused. Send the request itself, as METHOD /path HTTP/1.1, to the gateway's host.")
			}
			if !validTarget(target) {
				return malformed("invalid_request_target", "The request target "+strconv.Quote(problem.Clip(string(target), 60))+
					" is not a valid URI: a % must begin an escape of two hex digits (send a literal % as %25), a target starts with /, and a fragment (#...) is never sent.")
			}
			h.Method, h.Target, h.Version = method, target, version
			continue
		}
		name, value, err := fieldLine(line, "header")
		if err != nil {
			return err
		}
		h.Fields = append(h.Fields, Field{name, value})
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if h.ContentLength >= 0 {
				return malformed("duplicate_content_length", "The request has more than one Content-Length. Send exactly one.")
			}
			n, ok := decimal(value)
			if !ok {
				return malformed("invalid_content_length", "Content-Length "+strconv.Quote(problem.Clip(string(value), 30))+" is not a decimal number of bytes.")
			}
			h.ContentLength = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if h.Chunked {
				return malformed("duplicate_transfer_encoding", "The request has more than one Transfer-Encoding header. Send one: Transfer-Encoding: chunked.")
			}
			if !bytes.EqualFold(value, []byte("chunked")) {
				return malformed("unsupported_transfer_encoding", "Transfer-Encoding "+strconv.Quote(problem.Clip(string(value), 40))+" is refused; the only transfer coding accepted is chunked. Compress with Content-Encoding instead.")
			}
			h.Chunked = true
		case bytes.EqualFold(name, []byte("Host")):
			if hosts++; hosts > 1 {
				return malformed("duplicate_host", "The request has more than one Host header. Send exactly one.")
			}
			if len(value) == 0 && !h.HTTP10 {
				// An empty Host is allowed only for a target without an
				// authority (RFC 9112 §3.2), which origin-form never is.
				return malformed("empty_host", "The Host header is empty. Send Host: with the name the gateway serves.")
			}
			if !httpguts.ValidHostHeader(string(value)) {
				return malformed("invalid_host", "The Host header "+strconv.Quote(problem.Clip(string(value), 60))+" is not a valid host[:port].")
			}
			h.HasHost, h.Host = true, value
		case bytes.EqualFold(name, []byte("Upgrade")):
			if len(value) > 0 {
				h.Upgrade = true
			}
		case bytes.EqualFold(name, []byte("Expect")):
			// 100-continue is the only expectation HTTP defines; net/http
			// answers any other with a plain-text 417 of its own.
			if h.Continue || !bytes.EqualFold(value, []byte("100-continue")) {
				return malformed("unsupported_expectation", "The request's Expect header asks for something other than one 100-continue, which is all the gateway does. Remove it, or send Expect: 100-continue alone.")
			}
			h.Continue = true
		}
	}
	if first {
		return malformed("empty_line_before_request", "The request starts with an empty line. Send the request line first, and nothing between requests.")
	}
	switch {
	case h.ContentLength >= 0 && h.Chunked:
		return malformed("content_length_and_transfer_encoding", "The request has both Content-Length and Transfer-Encoding, which frame its body differently. Send one of them.")
	case h.Chunked && h.HTTP10:
		return malformed("transfer_encoding_http10", "HTTP/1.0 has no Transfer-Encoding. Use HTTP/1.1, or send a Content-Length.")
	case !h.HasHost && !h.HTTP10:
		return malformed("missing_host", "An HTTP/1.1 request must have a Host header. Send Host: with the name the gateway serves.")
	}
	return nil
}

// check validates one complete header block and sets the state that
// follows it, with w.left set for a Content-Length body.
func (w *Wire) check(block []byte) *WireError {
	connStart := !w.started // the connection's first request
	w.started = true
	w.left = 0
	h := &w.head
	if err := ParseHead(h, block, connStart); err != nil {
		return err
	}
	if h.H2Preface {
		w.state = wireOff
		return nil
	}
	w.lastPost = string(h.Method) == "POST"
	if h.HTTP10 {
		w.HTTP10Hosts = append(w.HTTP10Hosts, h.HasHost)
	}
	w.after = wireHeader
	if h.Upgrade {
		w.after = wireUpgrade // the connection may change protocol: hold what follows
	}
	switch {
	case h.Chunked:
		w.state = wireChunkSize
	case h.ContentLength > 0:
		w.state, w.left = wireBody, h.ContentLength
	default:
		w.state = w.after
	}
	return nil
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

// validTarget reports a request target net/http would parse, with no
// fragment: the path of an origin-form target ("/a%20b?q") may hold % only
// as an escape of two hex digits (the query is the application's to
// decode); the rare absolute form and "*" are checked the way net/http
// checks them. A '#' is refused anywhere: a fragment is never sent, and
// net/http would keep it as part of the path.
func validTarget(target []byte) bool {
	if bytes.IndexByte(target, '#') >= 0 {
		return false
	}
	if target[0] != '/' {
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

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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
