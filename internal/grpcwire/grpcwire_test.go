package grpcwire

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "Application/GRPC;charset=utf-8": true,
		"application/grpc-web": false, "application/grpc-web+proto": false, "application/grpcx": false, "": false, "application/json": false,
	} {
		if IsGRPC(ct) != want {
			t.Errorf("IsGRPC(%q) = %v", ct, !want)
		}
	}
}

func TestTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1S", time.Second, true}, {"250m", 250 * time.Millisecond, true}, {"99999999H", math.MaxInt64, true}, {"2000000H", 2000000 * time.Hour, true},
		{"5u", 5 * time.Microsecond, true}, {"7n", 7, true}, {"2M", 2 * time.Minute, true},
		{"123456789S", 0, false}, {"S", 0, false}, {"1s", 0, false}, {"-1S", 0, false}, {"1 S", 0, false}, {"", 0, false},
	} {
		got, ok := ParseTimeout(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseTimeout(%q) = %v, %v", tc.in, got, ok)
		}
	}
	// formatting never gives the upstream more time, and reads back
	for _, d := range []time.Duration{1, 999, time.Second, 1500 * time.Millisecond, 5 * time.Minute, 100 * 24 * time.Hour, 1<<63 - 1} {
		s := FormatTimeout(d)
		back, ok := ParseTimeout(s)
		if !ok || back < d {
			t.Errorf("FormatTimeout(%v) = %q, read back as %v", d, s, back)
		}
	}
}

func TestEncodeMessage(t *testing.T) {
	for _, s := range []string{"plain text", "100% sure", "é ✓", "line\nbreak", "\x00\xff"} {
		enc := EncodeMessage(s)
		for i := 0; i < len(enc); i++ {
			if enc[i] < ' ' || enc[i] > '~' {
				t.Fatalf("%q encoded as %q", s, enc)
			}
		}
		// gRPC's percent-encoding is read back as URL path escapes are
		if dec, err := url.PathUnescape(enc); err != nil || dec != s {
			t.Errorf("%q -> %q -> %q %v", s, enc, dec, err)
		}
	}
}

func TestStatusDetails(t *testing.T) {
	s := &Status{Code: ResourceExhausted, Message: "slow down", Reason: "RATE_LIMITED", Domain: "rampart",
		Metadata: map[string]string{"type": "tag:x", "request_id": "abc"}, RetryAfter: 1500 * time.Millisecond, ProblemType: "tag:x"}
	w := httptest.NewRecorder()
	w.Header().Set("Content-Length", "12")
	WriteTrailersOnly(w, GRPC, s)
	h := w.Result().Header
	if w.Code != 200 || h.Get("Content-Type") != ContentType || h.Get(HeaderStatus) != "8" || h.Get(HeaderMessage) != "slow down" ||
		h.Get("Content-Length") != "" || h.Get(HeaderProblem) != "tag:x" {
		t.Fatalf("%d %v", w.Code, h)
	}
	// decoded by the generated google.rpc types: an independent reading
	raw, err := base64.RawStdEncoding.DecodeString(h.Get(HeaderDetails))
	if err != nil {
		t.Fatal(err)
	}
	var st spb.Status
	if err := proto.Unmarshal(raw, &st); err != nil || st.Code != 8 || st.Message != "slow down" || len(st.Details) != 2 {
		t.Fatalf("%v %v", &st, err)
	}
	var info errdetails.ErrorInfo
	var retry errdetails.RetryInfo
	if err := st.Details[0].UnmarshalTo(&info); err != nil || info.Reason != "RATE_LIMITED" || info.Domain != "rampart" || info.Metadata["request_id"] != "abc" {
		t.Fatalf("%v %v", &info, err)
	}
	if err := st.Details[1].UnmarshalTo(&retry); err != nil || retry.RetryDelay.AsDuration() != 1500*time.Millisecond {
		t.Fatalf("%v %v", &retry, err)
	}
	h = http.Header{}
	SetTrailers(h, &Status{Code: Unavailable})
	if h.Get(http.TrailerPrefix+HeaderStatus) != "14" || len(h) != 1 {
		t.Fatalf("trailers %v", h)
	}
}

func TestHealth(t *testing.T) {
	req := HealthRequest("svc")
	if n := binary.BigEndian.Uint32(req[1:5]); req[0] != 0 || int(n) != len(req)-5 {
		t.Fatalf("%x", req)
	}
	for _, tc := range []struct {
		body    []byte
		serving bool
		ok      bool
	}{
		{Frame(nil, []byte{0x08, 0x01}), true, true},
		{Frame(nil, []byte{0x08, 0x02}), false, true},
		{Frame(nil, nil), false, true}, // UNKNOWN
		{Frame(nil, []byte{0x12, 0x01, 'x', 0x08, 0x01}), true, true},
		{[]byte{0, 0, 0, 0, 9, 8, 1}, false, false},
		{[]byte{1, 0, 0, 0, 2, 8, 1}, false, false},
		{nil, false, false},
	} {
		serving, err := HealthServing(tc.body)
		if serving != tc.serving || (err == nil) != tc.ok {
			t.Errorf("%x: %v %v", tc.body, serving, err)
		}
	}
}

// chunked reads r in pieces of the sizes in cuts, in turn.
type chunked struct {
	r    io.Reader
	cuts []byte
	i    int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.cuts) > 0 {
		n := int(c.cuts[c.i%len(c.cuts)])%16 + 1
		c.i++
		p = p[:min(len(p), n)]
	}
	return c.r.Read(p)
}

// frames is the reference reading of a whole stream: the length of the
// prefix of whole messages that pass, and whether the stream is refused.
func frames(b []byte, max uint32) (int, bool) {
	i := 0
	for i < len(b) {
		if len(b)-i < PrefixLen {
			return i, true
		}
		size := binary.BigEndian.Uint32(b[i+1 : i+5])
		if b[i] > 1 || size > max {
			return i, true
		}
		if uint64(len(b)-i-PrefixLen) < uint64(size) {
			return i, true
		}
		i += PrefixLen + int(size)
	}
	return i, false
}

// FuzzLimiter holds the streaming Limiter, read in pieces of any size,
// to the reference reading of the whole stream at once: the same messages
// pass, and a stream is refused exactly when the reference refuses it.
func FuzzLimiter(f *testing.F) {
	f.Add(Frame(Frame(nil, []byte("abc")), []byte("de")), []byte{3, 1}, uint16(8))
	f.Add(Frame(nil, make([]byte, 20)), []byte{0}, uint16(8))
	f.Add([]byte{2, 0, 0, 0, 0}, []byte{4}, uint16(8))
	f.Add([]byte{0, 0, 0}, []byte{1}, uint16(8))
	f.Fuzz(func(t *testing.T, in, cuts []byte, max uint16) {
		l := &Limiter{R: &chunked{r: bytes.NewReader(in), cuts: cuts}, Max: uint32(max)}
		out, err := io.ReadAll(l)
		n, refused := frames(in, uint32(max))
		var me *MessageError
		if refused != (err != nil) || err != nil && !errors.As(err, &me) {
			t.Fatalf("%x (max %d): err %v, reference refused %v", in, max, err, refused)
		}
		// what passed is the stream as sent, no byte of a refused
		// prefix beyond the piece it arrived in
		if !bytes.HasPrefix(in, out) || len(out) < n || !refused && len(out) != len(in) {
			t.Fatalf("%x (max %d): passed %x, reference %d bytes", in, max, out, n)
		}
	})
}
