package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"

	"github.com/rampart-gw/rampart/internal/guard"
)

// lengthBody is a body of Content-Length bytes.
type lengthBody struct {
	br   *bufio.Reader
	left int64
	err  error
	eof  func() // called when the body has been read to its end; may be nil
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		b.err = io.EOF
		if b.eof != nil {
			b.eof()
		}
	case err == io.EOF:
		b.err = io.ErrUnexpectedEOF // the connection ended inside the body
	case err != nil:
		b.err = err
	}
	if n > 0 {
		return n, nil
	}
	return 0, b.err
}

// Close implements io.Closer; what is left is the connection's to
// discard or to close over.
func (b *lengthBody) Close() error { return nil }

// Remaining is how many body bytes were not read.
func (b *lengthBody) Remaining() int64 { return b.left }

// chunkedBody is a chunked body read as RFC 9112 frames it, with the
// rules of the wire guard: hex sizes alone or with an extension, CRLF
// everywhere, a bounded trailer section without framing fields, whose
// fields go to *trailers (the request's or the response's Trailer) at the
// end. A response's body (upstream) reports what the rules refuse as a
// *guard.ResponseError, a request's as a *guard.WireError.
type chunkedBody struct {
	br         *bufio.Reader
	maxTrailer int
	trailers   *http.Header
	upstream   bool
	left       int64 // of the current chunk's data
	data       bool  // inside chunk data (left > 0), or before its CRLF
	err        error
	eof        func() // called when the body has been read to its end; may be nil
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	for b.err == nil {
		if b.data {
			if b.left == 0 {
				b.err = b.chunkEnd()
				b.data = false
				continue
			}
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > b.left {
				p = p[:b.left]
			}
			n, err := b.br.Read(p)
			b.left -= int64(n)
			if err == io.EOF && b.left > 0 {
				err = io.ErrUnexpectedEOF
			}
			if err != nil && n == 0 {
				b.err = err
				break
			}
			return n, nil
		}
		size, err := b.sizeLine()
		if err != nil {
			b.err = err
			break
		}
		if size == 0 {
			b.err = b.trailer()
			if b.err == nil {
				b.err = io.EOF
				if b.eof != nil {
					b.eof()
				}
			}
			break
		}
		b.left, b.data = size, true
	}
	if werr, ok := b.err.(*guard.WireError); ok && b.upstream {
		b.err = &guard.ResponseError{Reason: werr.Reason, Detail: "the chunked body of the response is malformed (" + werr.Reason + ")"}
	}
	return 0, b.err
}

// line reads one line of the body's framing, with its CRLF, at most max
// bytes; what comes back is refused unless it ends in CRLF.
func (b *chunkedBody) line(max int, tooLong *guard.WireError) ([]byte, error) {
	line, err := b.br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull || len(line) > max:
		return nil, tooLong
	case err == io.EOF:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, chunkError("bare_lf", "A line of the chunked request body ends in a bare LF. End chunk-size lines and chunk data with CRLF.")
	}
	return line, nil
}

func (b *chunkedBody) sizeLine() (int64, error) {
	line, err := b.line(guard.MaxChunkLine, chunkError("chunk_line_too_long", "A chunk-size line of the request body is too long. Send short chunk extensions, or none."))
	if err != nil {
		return 0, err
	}
	size, werr := guard.ChunkSize(line[:len(line)-2])
	if werr != nil {
		return 0, werr
	}
	return size, nil
}

// chunkEnd reads the CRLF after a chunk's data.
func (b *chunkedBody) chunkEnd() error {
	var crlf [2]byte
	if _, err := io.ReadFull(b.br, crlf[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return chunkError("invalid_chunk_end", "Chunk data of the request body is longer than its chunk size says, or is not followed by CRLF. Send exactly the number of bytes each chunk-size line announces, then CRLF.")
	}
	return nil
}

// trailer reads the trailer section up to its empty line, checks it, and
// sets its fields in *b.trailers.
func (b *chunkedBody) trailer() error {
	var block []byte
	tooLarge := chunkError("trailer_too_large", "The trailer section of the chunked request body is too large. Send fewer trailer fields.")
	for {
		line, err := b.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull || len(block)+len(line) > b.maxTrailer {
			return tooLarge
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		block = append(block, line...)
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			break
		}
	}
	if werr := guard.CheckTrailer(block); werr != nil {
		return werr
	}
	for len(block) > 2 {
		nl := bytes.IndexByte(block, '\n')
		line := block[:nl-1]
		block = block[nl+1:]
		colon := bytes.IndexByte(line, ':')
		k := textproto.CanonicalMIMEHeaderKey(string(line[:colon]))
		if *b.trailers == nil {
			*b.trailers = http.Header{}
		}
		(*b.trailers)[k] = append((*b.trailers)[k], string(bytes.Trim(line[colon+1:], " \t")))
	}
	return nil
}

// Close implements io.Closer.
func (b *chunkedBody) Close() error { return nil }

func chunkError(reason, detail string) *guard.WireError {
	e := malformed(reason, detail)
	e.InBody = true
	return e
}
