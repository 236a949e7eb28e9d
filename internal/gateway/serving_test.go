package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/testenv"
)

// The serving path from outside: a client on a TCP connection, the
// gateway's listener with one HTTP/1.1 engine or the other, the request
// path, the upstream client, and an upstream on another connection.

// startServing starts a gateway listening on loopback with the given
// http1_engine and one public route to upstream; it returns the
// gateway's address.
func startServing(tb testing.TB, engine, upstream string) string {
	tb.Helper()
	dir := tb.TempDir()
	cfg, err := config.ParseWith(dir+"/r.yaml", []byte(fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  http1_engine: %[1]s
  limits: {max_connections_per_ip: 100000}
admin: {disabled: true}
access_log: {path: %[2]s/access.log}
events: {sinks: [{type: jsonl, path: %[2]s/events.jsonl}]}
upstreams:
  app: {targets: [{url: "http://%[3]s"}]}
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: app, policy: public}
`, engine, dir, upstream)), func(string) (string, bool) { return "", false }, LoadOptions(false, nil))
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := g.Start(nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = g.Shutdown(tb.Context()) })
	return g.Addrs()[0].Addr.String()
}

// listenLoopback listens on a free loopback port and serves each
// connection with serve until the test ends.
func listenLoopback(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(testenv.ServeConns(l, func(c net.Conn, _ int) { serve(c) }))
	return l.Addr().String()
}

// cannedUpstream answers every request head with the same small JSON
// response, allocating nothing per request: what the benchmark counts
// is the gateway's. It serves bodiless requests only.
func cannedUpstream(c net.Conn) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{\"id\":1234,\"items\":[]}")
	buf := make([]byte, 16<<10)
	n := 0
	for {
		m, err := c.Read(buf[n:])
		if err != nil {
			return
		}
		n += m
		for {
			end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
			if end < 0 {
				break
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
			n = copy(buf, buf[end+4:n])
		}
		if n == len(buf) {
			return
		}
	}
}

// rawClient sends requests and reads Content-Length responses into a
// reused buffer, allocating nothing per request.
type rawClient struct {
	c   net.Conn
	buf []byte
}

// roundTrip writes req and reads one response, returning its status.
func (rc *rawClient) roundTrip(req []byte) (int, error) {
	if _, err := rc.c.Write(req); err != nil {
		return 0, err
	}
	n := 0
	for {
		m, err := rc.c.Read(rc.buf[n:])
		if err != nil {
			return 0, err
		}
		n += m
		end := bytes.Index(rc.buf[:n], []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		head := rc.buf[:end]
		i := bytes.Index(head, []byte("\r\nContent-Length: "))
		if i < 0 {
			return 0, fmt.Errorf("no Content-Length in %q", head)
		}
		v := head[i+len("\r\nContent-Length: "):]
		if j := bytes.IndexByte(v, '\r'); j >= 0 {
			v = v[:j]
		}
		length := 0
		for _, d := range v {
			length = length*10 + int(d-'0')
		}
		for n < end+4+length {
			m, err := rc.c.Read(rc.buf[n:])
			if err != nil {
				return 0, err
			}
			n += m
		}
		return int(rc.buf[9]-'0')*100 + int(rc.buf[10]-'0')*10 + int(rc.buf[11]-'0'), nil
	}
}

// BenchmarkProxiedRequest is the whole serving path of a plain proxied
// GET: a keep-alive client connection over loopback, the HTTP/1.1
// engine (net/http's server behind the wire check, or the gateway's
// own), the request path with its access log and metrics, the pooled
// upstream client, and an upstream over loopback that answers from a
// canned response. Allocations are the process's per request: the
// client and the upstream allocate nothing per request.
func BenchmarkProxiedRequest(b *testing.B) {
	up := listenLoopback(b, cannedUpstream)
	req := []byte("GET /api/v1/items?page=2&sort=name HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\nUser-Agent: rampart-bench/1\r\n\r\n")
	for _, engine := range []string{"stdlib", "rampart"} {
		b.Run(engine, func(b *testing.B) {
			c, err := net.Dial("tcp", startServing(b, engine, up))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			rc := &rawClient{c: c, buf: make([]byte, 64<<10)}
			for range 100 { // pools, caches and the upstream connection warm
				if _, err := rc.roundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if code, err := rc.roundTrip(req); err != nil || code != 200 {
					b.Fatalf("status %d: %v", code, err)
				}
			}
		})
	}
}

// seenRequest is a request as a parser framed it: what a desync would
// change.
type seenRequest struct {
	method, target string // the target: path (normalised as the gateway does) and query
	body           string
	client         string // X-Forwarded-For at the upstream: which connection it came from
}

func (s seenRequest) String() string {
	return fmt.Sprintf("%s %s (body %q)", s.method, s.target, s.body)
}

// recordingUpstream reads requests with net/http's parser and answers
// each with its number in the log (X-Upstream-Seq); a request net/http
// cannot read is logged as such. Each client connection comes from its
// own loopback address, so a request the gateway sends after its client
// has gone is told apart from the next connection's.
type recordingUpstream struct {
	mu   sync.Mutex
	next int                 // the next request's number
	seen map[int]seenRequest // by number, since the last take
	bad  []string            // what net/http could not read, and why
}

func (u *recordingUpstream) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				u.mu.Lock()
				u.bad = append(u.bad, err.Error())
				u.mu.Unlock()
			}
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the gateway stopped sending: its client left
		}
		u.mu.Lock()
		n := u.next
		u.next++
		if u.seen == nil {
			u.seen = map[int]seenRequest{}
		}
		u.seen[n] = seenRequest{r.Method, r.URL.EscapedPath() + query(r.URL.RawQuery), string(body), r.Header.Get("X-Forwarded-For")}
		u.mu.Unlock()
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Upstream-Seq: %d\r\nContent-Length: 2\r\n\r\nok", n); err != nil {
			return
		}
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

func query(q string) string {
	if q == "" {
		return ""
	}
	return "?" + q
}

// take returns what the upstream got from client, by number and in
// order, and what it could not read; then it forgets all of it.
func (u *recordingUpstream) take(client string) (byNumber map[int]seenRequest, inOrder []seenRequest, bad []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	byNumber = map[int]seenRequest{}
	for n, s := range u.seen {
		if s.client == client {
			s.client = ""
			byNumber[n] = s
		}
	}
	for _, n := range slices.Sorted(maps.Keys(byNumber)) {
		inOrder = append(inOrder, byNumber[n])
	}
	bad = u.bad
	u.seen, u.bad = nil, nil
	return byNumber, inOrder, bad
}

// reference frames data as net/http's server does, up to the first
// request it refuses or cannot read whole, with the path normalised as
// the gateway normalises it: http.ReadRequest, and after a POST the
// CR and LF bytes among the next four that the server discards (its
// tolerance of old clients that end a body with a CRLF it does not count).
func reference(data []byte) []seenRequest {
	var out []seenRequest
	br := bufio.NewReader(bytes.NewReader(data))
	for post := false; ; {
		if post {
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			_, _ = br.Discard(n)
		}
		r, err := http.ReadRequest(br)
		if err != nil {
			return out
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return out
		}
		post = r.Method == "POST"
		_, _ = guard.NormalizePath(r, false)
		out = append(out, seenRequest{method: r.Method, target: r.URL.EscapedPath() + query(r.URL.RawQuery), body: string(body)})
	}
}

// FuzzProxiedConn sends a connection's bytes through the gateway, on
// each HTTP/1.1 engine, to an upstream that reads with net/http's
// parser. The oracle is net/http's server framing of the same bytes
// (reference):
//   - every response the client gets is a well-formed HTTP/1.1 response;
//   - the n-th response, when the upstream answered it, answers the
//     request the reference frames n-th (same method, target and body):
//     the gateway and the reference agree on where each request ends;
//   - what reaches the upstream is, in order, a subsequence of the
//     reference's requests (the gateway refuses some; it never makes one
//     up, merges two or splits one), and net/http can read all of it.
func FuzzProxiedConn(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b?x=1 HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /n HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET /n HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /s HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
		"POST /s HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
		"GET /v1//x/../y/%2e/z HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a/abs?q HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
		"POST /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
	} {
		f.Add([]byte(s))
	}
	up := &recordingUpstream{}
	upAddr := listenLoopback(f, up.serve)
	engines := map[string]string{"stdlib": startServing(f, "stdlib", upAddr), "rampart": startServing(f, "rampart", upAddr)}
	var conns atomic.Uint32
	f.Fuzz(func(t *testing.T, data []byte) {
		ref := reference(data)
		for _, engine := range []string{"stdlib", "rampart"} {
			n := conns.Add(1)
			from := netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n%250) + 2})
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
			c, err := d.Dial("tcp", engines[engine])
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(data); err != nil && !isReset(err) {
				t.Fatal(err)
			}
			_ = c.(*net.TCPConn).CloseWrite()
			got, _ := io.ReadAll(c)
			c.Close()
			byNumber, seen, bad := up.take(from.String())
			if len(bad) > 0 {
				t.Fatalf("%s: the upstream could not read what the gateway sent (%s) for %q", engine, bad[0], data)
			}
			br := bufio.NewReader(bytes.NewReader(got))
			for n := 0; ; {
				if _, err := br.Peek(1); err != nil {
					break
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("%s: response %d is not HTTP/1.1 (%v) for %q:\n%q", engine, n+1, err, data, got)
				}
				if _, err := io.Copy(io.Discard, res.Body); err != nil {
					t.Fatalf("%s: response %d body: %v for %q:\n%q", engine, n+1, err, data, got)
				}
				if res.StatusCode < 200 {
					continue // 100 Continue
				}
				v := res.Header.Get("X-Upstream-Seq")
				if v == "" && res.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("%s: response %d (%d) is neither the upstream's nor a problem for %q:\n%q", engine, n+1, res.StatusCode, data, got)
				}
				if v != "" {
					i, _ := strconv.Atoi(v)
					if s, ok := byNumber[i]; !ok || n >= len(ref) || s != ref[n] {
						t.Fatalf("%s: response %d answers %v; net/http frames %v for %q", engine, n+1, s, at(ref, n), data)
					}
				}
				n++
			}
			k := 0
			for _, s := range seen {
				for k < len(ref) && ref[k] != s {
					k++
				}
				if k == len(ref) {
					t.Fatalf("%s: the upstream got %v, which net/http does not frame in that order from %q (it frames %v)", engine, s, data, ref)
				}
				k++
			}
		}
	})
}

func at(list []seenRequest, i int) any {
	if i < len(list) {
		return list[i]
	}
	return "nothing"
}
