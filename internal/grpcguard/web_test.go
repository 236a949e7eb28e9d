package grpcguard

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rampart-gw/rampart/internal/grpcwire"
)

// pieces reads r in pieces of the sizes in cuts, in turn.
type pieces struct {
	r    io.Reader
	cuts []byte
	i    int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.cuts) > 0 {
		n := int(p.cuts[p.i%len(p.cuts)])%7 + 1
		p.i++
		b = b[:min(len(b), n)]
	}
	return p.r.Read(b)
}

// FuzzText sends bytes through the -text encoder, flushed (padded) at
// arbitrary points as a streamed reply is, and reads them back through
// the decoder in arbitrary pieces: the bytes come back. Text that is one
// base64 string decodes as encoding/base64 decodes it.
func FuzzText(f *testing.F) {
	f.Add([]byte("hello, world"), []byte{1, 2, 3}, []byte{5})
	f.Add([]byte{0, 0, 0, 0, 3, 'a', 'b', 'c'}, []byte{0}, []byte{2, 9})
	f.Fuzz(func(t *testing.T, in, flushes, cuts []byte) {
		var text bytes.Buffer
		e := &textEncoder{w: &text}
		rest := in
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(flushes) > 0 {
				n = min(n, int(flushes[i%len(flushes)])%9+1)
			}
			if _, err := e.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			if len(flushes) > 0 && flushes[i%len(flushes)]%2 == 0 {
				_ = e.flush()
			}
		}
		_ = e.flush()
		out, err := io.ReadAll(&textDecoder{r: &pieces{r: bytes.NewReader(text.Bytes()), cuts: cuts}})
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("%x -> %q -> %x %v", in, text.Bytes(), out, err)
		}
		// the decoder on text it did not write: whatever standard base64
		// decodes, it decodes the same, but for line breaks, which
		// encoding/base64 skips and a gRPC-Web body does not carry
		want, werr := base64.StdEncoding.DecodeString(string(in))
		if bytes.ContainsAny(in, "\r\n") {
			return
		}
		got, gerr := io.ReadAll(&textDecoder{r: &pieces{r: bytes.NewReader(in), cuts: cuts}})
		if werr == nil && (gerr != nil || !bytes.Equal(got, want)) {
			t.Fatalf("%q: %x %v, encoding/base64 %x", in, got, gerr, want)
		}
	})
}

func TestWebWriter(t *testing.T) {
	msg := grpcwire.Frame(nil, []byte("reply"))
	for _, kind := range []grpcwire.Kind{grpcwire.Web, grpcwire.WebText} {
		rec := httptest.NewRecorder()
		w := newWebWriter(rec, kind)
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(200)
		_, _ = w.Write(msg[:3])
		w.Flush()
		_, _ = w.Write(msg[3:])
		h[http.TrailerPrefix+"Grpc-Status"] = []string{"0"}
		h[http.TrailerPrefix+"Grpc-Message"] = []string{"fine"}
		w.finish()
		res := rec.Result()
		body := rec.Body.Bytes()
		if kind == grpcwire.WebText {
			var err error
			if body, err = io.ReadAll(&textDecoder{r: bytes.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
		}
		if res.Header.Get("Content-Type") != kind.ResponseContentType() || res.Header.Get("Trailer") != "" || len(res.Trailer) != 0 {
			t.Fatalf("%v: header %v, trailer %v", kind, res.Header, res.Trailer)
		}
		if !bytes.HasPrefix(body, msg) {
			t.Fatalf("%v: %q", kind, body)
		}
		tr := body[len(msg):]
		block := "grpc-message: fine\r\ngrpc-status: 0\r\n"
		if len(tr) < 5 || tr[0] != 0x80 || int(binary.BigEndian.Uint32(tr[1:5])) != len(block) || string(tr[5:]) != block {
			t.Fatalf("%v: trailers %q", kind, tr)
		}
	}
}
