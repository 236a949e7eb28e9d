package http1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/guard"
)

// memConn is a connection whose client sent data and then closed its
// side; what the server writes is kept.
type memConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func (c *memConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServeConn serves a connection's bytes with a handler that plays
// an upstream (it reads the body, then answers by the path: a short
// body, a long one, a flushed stream, no body, trailers): the server
// ends, and what it wrote is a sequence of HTTP/1.1 responses, one for
// each request the handler saw and one for a refusal, in order.
func FuzzServeConn(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("GET /stream HTTP/1.1\r\nHost: a\r\n\r\nGET /long HTTP/1.1\r\nHost: a\r\n\r\nHEAD /long HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("POST /trailer HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var handled, refused atomic.Int32
		var methods []string
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handled.Add(1)
			methods = append(methods, r.Method)
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "bad body", http.StatusBadRequest)
				return
			}
			switch r.URL.Path {
			case "/long":
				_, _ = w.Write(bytes.Repeat([]byte("L"), 5000))
			case "/stream":
				_, _ = io.WriteString(w, "a")
				w.(http.Flusher).Flush()
				_, _ = io.WriteString(w, "b")
			case "/none":
				w.WriteHeader(http.StatusNoContent)
			case "/trailer":
				w.Header().Set("Trailer", "X-T")
				_, _ = w.Write(b)
				w.Header().Set("X-T", "1")
			default:
				_, _ = w.Write(b)
			}
		})
		srv := &Server{Handler: h, MaxHeaderBytes: 1024,
			Refused: func(w http.ResponseWriter, r *http.Request, err *guard.WireError) {
				refused.Add(1)
				methods = append(methods, "GET")
				w.WriteHeader(err.Type.Status)
			}}
		c := &memConn{r: bytes.NewReader(data)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ServeConn(context.Background(), c)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the server did not end on %q", data)
		}
		written := c.out.String()
		br := bufio.NewReader(&c.out)
		n := 0
		for {
			if _, err := br.Peek(1); err == io.EOF {
				break
			}
			if n >= len(methods) {
				t.Fatalf("more responses than requests (%d) for %q:\n%q", len(methods), data, written)
			}
			res, err := http.ReadResponse(br, &http.Request{Method: methods[n]})
			if err != nil {
				t.Fatalf("response %d is not HTTP/1.1 (%v) for %q:\n%q", n+1, err, data, written)
			}
			if _, err := io.Copy(io.Discard, res.Body); err != nil {
				t.Fatalf("response %d body: %v for %q:\n%q", n+1, err, data, written)
			}
			if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
				n++ // an interim 100 Continue is not the request's response
			}
		}
		if want := int(handled.Load() + refused.Load()); n != want {
			t.Fatalf("%d responses for %d requests on %q:\n%q", n, want, data, c.out.String())
		}
	})
}

// oneConn is a listener that yields one connection, then waits until
// closed.
type oneConn struct {
	c    net.Conn
	done chan struct{}
}

func (l *oneConn) Accept() (net.Conn, error) {
	if c := l.c; c != nil {
		l.c = nil
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}
func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }

// closeConn tells the listener its connection ended.
type closeConn struct {
	*memConn
	done chan struct{}
}

func (c *closeConn) Close() error { close(c.done); return nil }

// BenchmarkServeConn serves a keep-alive connection's 64 pipelined
// requests (benchHead) with a handler that answers a small JSON body,
// with this server and with net/http's; ns and allocations are per
// request.
func BenchmarkServeConn(b *testing.B) {
	stream := bytes.Repeat([]byte(benchHead), 64)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":1234,"items":[]}`))
	})
	b.Run("http1", func(b *testing.B) {
		srv := &Server{Handler: h, MaxHeaderBytes: 16 << 10}
		b.ReportAllocs()
		for b.Loop() {
			srv.ServeConn(context.Background(), &memConn{r: bytes.NewReader(stream)})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/request")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("net/http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			done := make(chan struct{})
			srv := &http.Server{Handler: h}
			_ = srv.Serve(&oneConn{c: &closeConn{memConn: &memConn{r: bytes.NewReader(stream)}, done: done}, done: done})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/request")
		b.ReportMetric(0, "ns/op")
	})
}
