package grpcguard

import (
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/rampart-gw/rampart/internal/grpcwire"
)

// A gRPC-Web call (grpc/grpc doc/PROTOCOL-WEB.md) is a gRPC call a
// browser can make: over HTTP/1.1 or HTTP/2, its messages framed as
// gRPC's, in base64 for the -text kind, and its trailers sent as a last
// message of the body (flag 0x80) since browsers cannot read HTTP
// trailers. The gateway makes it a gRPC call to the upstream and turns
// the upstream's reply back.

// trailerFlag marks the message that carries a gRPC-Web reply's
// trailers.
const trailerFlag = 0x80

// webWriter turns an upstream's gRPC reply into a gRPC-Web one.
type webWriter struct {
	http.ResponseWriter
	kind    grpcwire.Kind
	started bool
	enc     *textEncoder // for WebText
}

func newWebWriter(w http.ResponseWriter, k grpcwire.Kind) *webWriter {
	ww := &webWriter{ResponseWriter: w, kind: k}
	if k == grpcwire.WebText {
		ww.enc = &textEncoder{w: w}
	}
	return ww
}

func (w *webWriter) WriteHeader(code int) {
	if w.started {
		return
	}
	w.started = true
	h := w.Header()
	if grpcwire.IsGRPC(h.Get("Content-Type")) {
		h["Content-Type"] = []string{w.kind.ResponseContentType()}
	}
	delete(h, "Trailer") // the trailers go in the body
	if w.kind == grpcwire.WebText {
		delete(h, "Content-Length")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *webWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	if w.enc != nil {
		return w.enc.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what has been written, the base64 of a partial group
// padded (a -text reader decodes each padded group).
func (w *webWriter) Flush() {
	if w.enc != nil {
		_ = w.enc.flush()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *webWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish sends the reply's trailers as its last message. A reply that
// had no body has its status in its headers already (Trailers-Only), as
// gRPC-Web allows too.
func (w *webWriter) finish() {
	h := w.Header()
	var names []string
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			names = append(names, k)
		}
	}
	if !w.started || len(names) == 0 {
		for _, k := range names {
			delete(h, k)
		}
		if w.enc != nil {
			_ = w.enc.flush()
		}
		return
	}
	slices.Sort(names)
	var block []byte
	for _, k := range names {
		name := strings.ToLower(strings.TrimPrefix(k, http.TrailerPrefix))
		for _, v := range h[k] {
			block = append(block, name...)
			block = append(block, ':', ' ')
			block = append(block, v...)
			block = append(block, '\r', '\n')
		}
		delete(h, k)
	}
	frame := make([]byte, grpcwire.PrefixLen, grpcwire.PrefixLen+len(block))
	frame[0] = trailerFlag
	binary.BigEndian.PutUint32(frame[1:], uint32(len(block)))
	_, _ = w.Write(append(frame, block...))
	if w.enc != nil {
		_ = w.enc.flush()
	}
}

// textEncoder writes base64, holding back the bytes of a partial group
// until more come or a flush pads them.
type textEncoder struct {
	w    io.Writer
	held [2]byte
	n    int
	buf  []byte
}

func (e *textEncoder) Write(p []byte) (int, error) {
	total := len(p)
	if e.n > 0 {
		need := 3 - e.n
		if len(p) < need {
			e.n += copy(e.held[e.n:], p)
			return total, nil
		}
		group := append(e.held[:e.n:e.n], p[:need]...)
		p = p[need:]
		e.n = 0
		if err := e.emit(group); err != nil {
			return 0, err
		}
	}
	whole := len(p) - len(p)%3
	if whole > 0 {
		if err := e.emit(p[:whole]); err != nil {
			return 0, err
		}
	}
	e.n = copy(e.held[:], p[whole:])
	return total, nil
}

func (e *textEncoder) emit(p []byte) error {
	e.buf = base64.StdEncoding.AppendEncode(e.buf[:0], p)
	_, err := e.w.Write(e.buf)
	return err
}

// flush writes a held partial group, padded.
func (e *textEncoder) flush() error {
	if e.n == 0 {
		return nil
	}
	n := e.n
	e.n = 0
	return e.emit(e.held[:n])
}

// textDecoder reads a -text request body: base64 in groups of four, each
// of which may be padded (a client may send its messages encoded one by
// one).
type textDecoder struct {
	r   io.Reader
	in  []byte // undecoded input
	out []byte // decoded, not yet read
	raw [4096]byte
	eof bool
}

func (d *textDecoder) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.eof {
			if len(d.in) > 0 {
				return 0, errBadText
			}
			return 0, io.EOF
		}
		n, err := d.r.Read(d.raw[:])
		d.in = append(d.in, d.raw[:n]...)
		if err == io.EOF {
			d.eof = true
		} else if err != nil {
			return 0, err
		}
		whole := len(d.in) - len(d.in)%4
		for i := 0; i < whole; i += 4 {
			var dec [3]byte
			m, err := base64.StdEncoding.Decode(dec[:], d.in[i:i+4])
			if err != nil {
				return 0, errBadText
			}
			d.out = append(d.out, dec[:m]...)
		}
		d.in = d.in[:copy(d.in, d.in[whole:])]
	}
	n := copy(p, d.out)
	d.out = d.out[:copy(d.out, d.out[n:])]
	return n, nil
}

var errBadText = &grpcwire.MessageError{Reason: "bad_text"}
