package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/testenv"
)

// outcome is what a client made of an upstream's answer.
type outcome struct {
	err     bool
	refused string // the rule a response broke (*guard.ResponseError), if that was the error
	status  int
	body    string
}

func failed(err error) outcome {
	o := outcome{err: true}
	if rej, ok := errors.AsType[*guard.ResponseError](err); ok {
		o.refused = rej.Reason
	}
	return o
}

// fuzzUpstream answers the first request of its first connection with raw
// and ends its side of that connection (an incomplete answer is cut off
// at once, a read-until-close body ends there), reading on until the
// client closes it. Every later connection answers each request
// "SECOND". A client that sends another request on the first connection
// and reads a response there has read bytes the upstream sent unasked.
//
// It listens on a Unix socket (path): thousands of iterations a second
// over TCP would leave every loopback port in TIME_WAIT.
func fuzzUpstream(t *testing.T, path string, raw []byte) (stop func()) {
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.ServeConns(l, func(c net.Conn, n int) {
		first := n == 0
		br := bufio.NewReader(c)
		for {
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, req.Body)
			if !first {
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nSECOND")
				continue
			}
			_, _ = c.Write(raw)
			_ = c.(*net.UnixConn).CloseWrite()
			_, _ = io.Copy(io.Discard, br) // a second request here is never answered
			return
		}
	})
}

// exchangeTwice sends method /first (asking for a WebSocket upgrade
// with upgrade) then GET /second through rt. A 101's body is what the
// upstream sent after it.
func exchangeTwice(rt func(*http.Request) (*http.Response, error), method string, upgrade bool) (first, second outcome) {
	do := func(method, path string, upgrade bool) outcome {
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, "http://upstream.test"+path, nil)
		req.Body = nil
		if upgrade {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
		}
		res, err := rt(req)
		if err != nil {
			return failed(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return failed(err)
		}
		return outcome{status: res.StatusCode, body: string(b)}
	}
	return do(method, "/first", upgrade), do("GET", "/second", false)
}

// h1RoundTrip sends req through the synchronous client, with the head
// newHead would make (an upgrade's fields in it where req asks for one).
func h1RoundTrip(tr *h1Transport) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		h := &head{in: req.Header}
		if req.Header.Get("Upgrade") != "" {
			h = upgradeHead(req)
		}
		return tr.RoundTrip(req, h)
	}
}

// FuzzH1Response runs the synchronous client and net/http's Transport,
// the reference, against an upstream whose first answer is the fuzzed
// bytes, for a GET or a HEAD (asking for an upgrade, or not), then a
// second request: both clients must
// make the same of the first answer (an error, or the same status and
// body), unless the synchronous client refused it by a rule of the
// codec, neither may take anything of it for the second request's answer
// (response desync), and the second request may fail only where it fails
// with net/http.
func FuzzH1Response(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\nstolen",
		"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstolen",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nstream",
	} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, false)
		f.Add([]byte(s), false, true)
	}
	dir := f.TempDir()
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, raw []byte, isHead, upgrade bool) {
		if len(raw) > 4096 {
			return
		}
		method := "GET"
		if isHead {
			method = "HEAD"
		}
		path := filepath.Join(dir, strconv.FormatInt(n.Add(1), 36))
		var d net.Dialer
		dial := func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", path) }

		stop := fuzzUpstream(t, path, raw)
		ours := newH1Transport(dial, 4, 200*time.Millisecond, 0)
		o1, o2 := exchangeTwice(h1RoundTrip(ours), method, upgrade)
		ours.CloseIdleConnections()
		stop()

		stop = fuzzUpstream(t, path, raw)
		std := &http.Transport{DialContext: dial, DisableCompression: true, MaxResponseHeaderBytes: DefaultMaxResponseHeaderBytes,
			ResponseHeaderTimeout: 200 * time.Millisecond}
		s1, s2 := exchangeTwice(std.RoundTrip, method, upgrade)
		std.CloseIdleConnections()
		stop()

		// Where the synchronous client refused a response by a rule of
		// the codec (ParseResponseHead's, or a chunk rule), net/http may
		// have read it: FuzzReadResponse holds each such refusal to what
		// the bytes have.
		if o1.refused == "" && o1 != s1 {
			t.Fatalf("first answer %q to %s (upgrade %v): ours %+v, net/http %+v", raw, method, upgrade, o1, s1)
		}
		for name, o := range map[string]outcome{"ours": o2, "net/http": s2} {
			if !o.err && (o.status != 200 || o.body != "SECOND") {
				t.Fatalf("second request after %q to %s: %s read %+v, bytes the upstream sent unasked", raw, method, name, o)
			}
		}
		// net/http's reader goroutine may find unsolicited bytes only
		// after the second request took the connection, and then fail
		// it; the synchronous client looks before. So it must succeed
		// wherever net/http does, not only fail where it fails.
		if o2.err && !s2.err {
			t.Fatalf("second request after %q to %s: ours failed, net/http got %+v", raw, method, s2)
		}
	})
}
