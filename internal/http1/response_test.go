package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/guard"
	"golang.org/x/net/http/httpguts"
)

// responseSeeds are responses and near-responses, well and badly framed.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum, Grpc-Status\r\n\r\n5;x=1\r\nhello\r\n0\r\nX-Sum: 42\r\nGrpc-Status: 0\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 304 Not Modified\r\nEtag: \"a\"\r\n\r\n",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabcHTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 200 OK\r\nConnection: close, x-hop\r\nX-Hop: 1\r\nPragma: no-cache\r\n\r\nto the end",
	"HTTP/1.1 404\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nVary: Accept\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
	"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
}

// refRead reads the final response to method from br as net/http's
// Transport does: ReadResponse, past 1xx interim responses.
func refRead(br *bufio.Reader, method string) (*http.Response, error) {
	for {
		res, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			return nil, err
		}
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return res, nil
	}
}

var (
	statusLineRE = regexp.MustCompile(`^HTTP/1\.[01] [0-9]{3}( |$)`)
	headEndRE    = regexp.MustCompile(`\n\r?\n`)
	bareLFRE     = regexp.MustCompile(`(^|[^\r])\n`)
	tcharsRE     = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// refusedFairly checks, apart from the code that made it, that a head
// refusal net/http does not make names what a head has: data is the
// stream from the response on, whose heads (1xx ones, then the final
// one) are looked at in turn as net/http reads each.
func refusedFairly(reason string, data []byte, method string) bool {
	for len(data) > 0 {
		head := data
		if end := headEndRE.FindIndex(data); end != nil {
			head = data[:end[1]]
		}
		ref, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: method})
		if err != nil {
			return false
		}
		if headHas(reason, head, ref) {
			return true
		}
		if ref.StatusCode >= 200 || ref.StatusCode == http.StatusSwitchingProtocols {
			return false
		}
		data = data[len(head):]
	}
	return false
}

// headHas says whether head, which net/http read as ref, has what reason
// names.
func headHas(reason string, head []byte, ref *http.Response) bool {
	lines := strings.Split(string(head), "\n")
	fields := func() textproto.MIMEHeader { // as net/http read them, duplicates kept
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
		_, _ = tp.ReadLine()
		h, _ := tp.ReadMIMEHeader()
		return h
	}
	switch reason {
	case "bare_lf":
		return bareLFRE.Match(head)
	case "control_character":
		for i, c := range head {
			if (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f || (c == '\r' && (i+1 == len(head) || head[i+1] != '\n')) {
				return true
			}
		}
	case "obs_fold":
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
				return true
			}
		}
	case "invalid_header_name":
		for _, l := range lines[1:] {
			if name, _, ok := strings.Cut(strings.TrimSuffix(l, "\r"), ":"); l != "\r" && l != "" && (!ok || !tcharsRE.MatchString(name)) {
				return true
			}
		}
	case "malformed_status_line":
		return !statusLineRE.MatchString(strings.TrimSuffix(lines[0], "\r"))
	case "unsupported_http_version":
		return ref.Proto != "HTTP/1.1" && ref.Proto != "HTTP/1.0"
	case "invalid_status_code":
		return ref.StatusCode < 100 || ref.StatusCode > 599
	case "unrequested_upgrade":
		return ref.StatusCode == http.StatusSwitchingProtocols
	case "invalid_upgrade":
		return ref.StatusCode == http.StatusSwitchingProtocols &&
			(ref.Header.Get("Upgrade") == "" || !httpguts.HeaderValuesContainsToken(ref.Header["Connection"], "upgrade"))
	case "framed_upgrade":
		f := fields()
		return ref.StatusCode == http.StatusSwitchingProtocols && (len(f["Content-Length"]) > 0 || len(f["Transfer-Encoding"]) > 0)
	case "duplicate_content_length":
		return len(fields()["Content-Length"]) > 1
	case "duplicate_transfer_encoding", "unsupported_transfer_encoding":
		te := fields()["Transfer-Encoding"]
		return len(te) > 1 || len(te) == 1 && !strings.EqualFold(strings.TrimSpace(te[0]), "chunked")
	case "content_length_and_transfer_encoding":
		return len(ref.TransferEncoding) > 0 && len(fields()["Content-Length"]) > 0
	case "transfer_encoding_http10":
		return ref.ProtoMinor == 0 && len(fields()["Transfer-Encoding"]) > 0
	}
	return false
}

// strictChunked are the refusals of a chunked body that net/http may
// read: the wire guard's chunk rules (the code requests are read with,
// held to net/http by FuzzReadRequest).
var strictChunked = map[string]bool{"bare_lf": true, "invalid_chunk_size": true, "chunk_size_too_large": true, "chunk_line_too_long": true,
	"control_character": true, "invalid_trailer": true, "trailer_too_large": true, "obs_fold": true, "invalid_header_name": true}

// FuzzReadResponse: every response this reader takes from an upstream
// connection's bytes, net/http's Transport takes too, from the same place
// in the stream, with the same status, version, header, length, transfer
// coding, close and declared trailer; each body read whole here, net/http
// reads to the same bytes and trailers. Two responses in a row are
// compared (the second after a keep-alive first), so that both must agree
// where each one ends. Where this reader refuses a head net/http takes,
// the refusal's reason must be what the head has, as the test checks
// it on its own (refusedFairly). With upgrade, the requests ask for an
// upgrade: a 101 is read as net/http reads it, and what follows its head
// is left in the stream for the protocol switched to, the same bytes as
// net/http leaves.
func FuzzReadResponse(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false, false, false)
		f.Add([]byte(s), true, false, false)
		f.Add([]byte(s), false, false, true)
	}
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi"), false, false, true)
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi"), false, false, true)
	f.Fuzz(func(t *testing.T, data []byte, head1, head2, upgrade bool) {
		if len(data) > 8192 {
			return
		}
		ourBR := bufio.NewReaderSize(bytes.NewReader(data), 256)
		ours := NewResponseReader(ourBR, 16<<10)
		refRD := bytes.NewReader(data)
		refBR := bufio.NewReader(refRD)
		for i, isHead := range []bool{head1, head2} {
			method := "GET"
			if isHead {
				method = "HEAD"
			}
			start := len(data) - refRD.Len() - refBR.Buffered() // where this response starts
			read := ours.ReadResponse
			if upgrade {
				read = ours.ReadUpgradeResponse
			}
			res, err := read(&http.Request{Method: method})
			ref, rerr := refRead(refBR, method)
			if err != nil {
				rej, ok := errors.AsType[*guard.ResponseError](err)
				switch {
				case rerr != nil:
				case !ok:
					t.Fatalf("response %d: %v here (not a refusal), net/http read %d\n%q", i+1, err, ref.StatusCode, data)
				default:
					if !refusedFairly(rej.Reason, data[start:], method) {
						t.Fatalf("response %d: refused here as %s, which the head does not have; net/http read %d\n%q", i+1, rej.Reason, ref.StatusCode, data)
					}
				}
				return
			}
			if rerr != nil {
				t.Fatalf("response %d: read here as %d, refused by net/http: %v\n%q", i+1, res.StatusCode, rerr, data)
			}
			same := func(what string, a, b any) {
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("response %d: %s: %#v here, %#v in net/http\n%q", i+1, what, a, b, data)
				}
			}
			same("status", [2]any{res.StatusCode, res.Status}, [2]any{ref.StatusCode, ref.Status})
			same("proto", [3]any{res.Proto, res.ProtoMajor, res.ProtoMinor}, [3]any{ref.Proto, ref.ProtoMajor, ref.ProtoMinor})
			same("header", res.Header, ref.Header)
			if res.StatusCode == http.StatusSwitchingProtocols {
				// No body, whatever length net/http makes of it: the
				// stream goes on in the protocol switched to.
				rest, _ := io.ReadAll(ourBR)
				refRest, _ := io.ReadAll(refBR)
				same("the switched protocol's bytes", rest, refRest)
				return
			}
			same("content length", res.ContentLength, ref.ContentLength)
			same("transfer encoding", res.TransferEncoding, ref.TransferEncoding)
			same("close", res.Close, ref.Close)
			same("declared trailer", res.Trailer, ref.Trailer)
			body, err := io.ReadAll(res.Body)
			refBody, rerr := io.ReadAll(ref.Body)
			if err != nil {
				if rej, ok := errors.AsType[*guard.ResponseError](err); rerr == nil && (!ok || !strictChunked[rej.Reason]) {
					t.Fatalf("response %d: body refused here (%v), not by a chunk rule, read by net/http\n%q", i+1, err, data)
				}
				return // refused (or cut) here: the connection ends
			}
			if rerr != nil {
				t.Fatalf("response %d: body read here (%q), refused by net/http: %v\n%q", i+1, body, rerr, data)
			}
			same("body", body, refBody)
			same("trailer", res.Trailer, ref.Trailer)
			if res.Close {
				return // nothing after this response is read
			}
		}
	})
}

// TestReadResponse: the seeds this reader refuses, with their reasons;
// the ones it reads, net/http reads alike (the fuzz target's check, run
// here on every seed).
func TestReadResponse(t *testing.T) {
	for _, c := range []struct {
		in, refused string
		upgrade     bool // read as the answer to an upgrade request
	}{
		{responseSeeds[10], "duplicate_content_length", false},
		{responseSeeds[11], "content_length_and_transfer_encoding", false},
		{responseSeeds[12], "obs_fold", false},
		{responseSeeds[13], "bare_lf", false},
		{responseSeeds[14], "transfer_encoding_http10", false},
		{responseSeeds[15], "unsupported_http_version", false},
		{responseSeeds[16], "invalid_status_code", false},
		{responseSeeds[17], "unrequested_upgrade", false},
		{responseSeeds[18], "malformed_status_line", false},
		{responseSeeds[19], "unsupported_transfer_encoding", false},
		{responseSeeds[20], "invalid_chunk_size", false},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi", "framed_upgrade", true},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "invalid_upgrade", true},
		{"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n", "invalid_upgrade", true},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "framed_upgrade", true},
		{"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 200) + "\r\n\r\n", "response_headers_too_large", false},
		// the heads of 1xx responses count toward the limit with the final one's
		{strings.Repeat("HTTP/1.1 100 Continue\r\nX: "+strings.Repeat("a", 40)+"\r\n\r\n", 4) + "HTTP/1.1 200 OK\r\n\r\n", "response_headers_too_large", false},
	} {
		r := NewResponseReader(bufio.NewReader(strings.NewReader(c.in)), 200)
		read := r.ReadResponse
		if c.upgrade {
			read = r.ReadUpgradeResponse
		}
		res, err := read(&http.Request{Method: "GET"})
		if err == nil {
			_, err = io.ReadAll(res.Body)
		}
		if rej, ok := errors.AsType[*guard.ResponseError](err); !ok || rej.Reason != c.refused {
			t.Errorf("%q: %v, want %s", c.in, err, c.refused)
		}
	}

	// An upgrade: past a 100, the 101 is final, and the bytes after its
	// head are left for the protocol switched to.
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 100 Continue\r\n\r\n" + responseSeeds[17] + "\x81\x02hi"))
	res, err := NewResponseReader(br, 8192).ReadUpgradeResponse(&http.Request{Method: "GET"})
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Upgrade") != "websocket" || res.Body != http.NoBody {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "\x81\x02hi" {
		t.Errorf("after the 101: %q", rest)
	}

	r := NewResponseReader(bufio.NewReader(strings.NewReader(responseSeeds[1]+responseSeeds[2])), 8192)
	res, err = r.ReadResponse(&http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	if err != nil || string(body) != "hello" || res.Trailer.Get("X-Sum") != "42" || res.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("chunked body %q %v, trailer %v", body, err, res.Trailer)
	}
	if res, err = r.ReadResponse(&http.Request{Method: "GET"}); err != nil || res.StatusCode != http.StatusCreated {
		t.Errorf("after two 1xx: %v %v, want 201", res, err)
	}
	if _, err := r.ReadResponse(&http.Request{Method: "GET"}); err != io.ErrUnexpectedEOF {
		t.Errorf("after the last response: %v, want io.ErrUnexpectedEOF", err)
	}
}

// benchResponse is a typical API response head and body.
const benchResponse = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sun, 06 Dec 2026 20:00:00 GMT\r\nCache-Control: no-store\r\n" +
	"Vary: Accept-Encoding\r\nX-Request-Id: 0f8e2c1d\r\nContent-Length: 45\r\n\r\n" + `{"items":[{"id":1,"name":"widget"}],"page":2}`

// BenchmarkReadResponse reads a keep-alive connection's responses, body
// included, with this reader and with net/http's ReadResponse.
func BenchmarkReadResponse(b *testing.B) {
	stream := []byte(strings.Repeat(benchResponse, 64))
	req := &http.Request{Method: "GET"}
	for _, c := range []struct {
		name string
		read func(br *bufio.Reader) func() (*http.Response, error)
	}{
		{"http1", func(br *bufio.Reader) func() (*http.Response, error) {
			r := NewResponseReader(br, 16<<10)
			return func() (*http.Response, error) { return r.ReadResponse(req) }
		}},
		{"net/http", func(br *bufio.Reader) func() (*http.Response, error) {
			return func() (*http.Response, error) { return http.ReadResponse(br, req) }
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchResponse)))
			rd := bytes.NewReader(stream)
			br := bufio.NewReaderSize(rd, 4096)
			read := c.read(br)
			var sink [64]byte
			for b.Loop() {
				res, err := read()
				if err == io.ErrUnexpectedEOF && rd.Len() == 0 && br.Buffered() == 0 {
					rd.Reset(stream)
					br.Reset(rd)
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(res.Body, sink[:45]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
