// Command floorproxy is the pinned run's yardstick for what a reverse
// proxy written in Go costs before it does anything a gateway does: one
// goroutine per client connection reading requests with
// net/http.ReadRequest, a pooled keep-alive upstream connection used by
// the calling goroutine itself (no Transport goroutines), the request and
// the response written with Request.Write and Response.Write. No checks,
// no logging, no header rules: it is not a proxy to deploy, it is the
// floor under Rampart's per-request cost, measured on the same cores.
// Built only by `make bench`.
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	backend := flag.String("backend", "", "host:port of the upstream")
	flag.Parse()
	if *backend == "" {
		log.Fatal("-backend: host:port")
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("floorproxy http %s", l.Addr())
	p := &pool{addr: *backend}
	for {
		c, err := l.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go p.serve(c)
	}
}

// upstream is one pooled connection to the backend.
type upstream struct {
	net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

// pool keeps idle upstream connections, most recently used last.
type pool struct {
	addr string
	mu   sync.Mutex
	idle []*upstream
}

func (p *pool) get() (*upstream, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		u := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return u, nil
	}
	p.mu.Unlock()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &upstream{Conn: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}, nil
}

func (p *pool) put(u *upstream) {
	p.mu.Lock()
	p.idle = append(p.idle, u)
	p.mu.Unlock()
}

// serve proxies the requests of one client connection until it ends or
// a request fails.
func (p *pool) serve(c net.Conn) {
	defer c.Close()
	br, bw := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if !p.exchange(req, bw) {
			return
		}
		if err := bw.Flush(); err != nil || req.Close {
			return
		}
	}
}

// exchange sends req upstream and writes the response to bw; false when
// the client connection must close.
func (p *pool) exchange(req *http.Request, bw *bufio.Writer) bool {
	u, err := p.get()
	if err != nil {
		_, _ = bw.WriteString("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return false
	}
	req.Header.Del("Connection")
	if err := req.Write(u.bw); err != nil {
		u.Close()
		return false
	}
	if err := u.bw.Flush(); err != nil {
		u.Close()
		return false
	}
	res, err := http.ReadResponse(u.br, req)
	if err != nil {
		u.Close()
		return false
	}
	err = res.Write(bw) // reads the body to its end
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || res.Close {
		u.Close()
		return err == nil
	}
	p.put(u)
	return true
}
