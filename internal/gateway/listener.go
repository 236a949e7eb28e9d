package gateway

import (
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
)

// capListener refuses a connection when its client address already holds
// the configured number of open connections. The cap is read per accept,
// so a reload changes it.
type capListener struct {
	net.Listener
	max      *atomic.Int64
	tls      bool
	onRefuse func(ip netip.Addr)
	onOpen   func()
	onClose  func()

	mu     sync.Mutex
	counts map[netip.Addr]int
}

func newCapListener(l net.Listener, max *atomic.Int64, tls bool, onRefuse func(netip.Addr)) *capListener {
	return &capListener{Listener: l, max: max, tls: tls, onRefuse: onRefuse, counts: map[netip.Addr]int{}}
}

// refusal is the response written on a refused cleartext connection.
var refusal = func() []byte {
	p := problem.New(problem.TooManyConnections, "This client address holds too many open connections. Reuse connections (keep-alive or HTTP/2) instead of opening more.")
	body, _ := json.Marshal(p)
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: " + problem.ContentType +
		"\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}()

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		ip := ap.Addr().Unmap()
		l.mu.Lock()
		if int64(l.counts[ip]) >= l.max.Load() {
			l.mu.Unlock()
			l.refuse(c, ip)
			continue
		}
		l.counts[ip]++
		l.mu.Unlock()
		if l.onOpen != nil {
			l.onOpen()
		}
		return &cappedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *capListener) refuse(c net.Conn, ip netip.Addr) {
	if l.onRefuse != nil {
		l.onRefuse(ip)
	}
	// Answer without blocking Accept on a slow client.
	go func() {
		defer c.Close()
		if !l.tls {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write(refusal)
		}
	}()
}

func (l *capListener) release(ip netip.Addr) {
	if l.onClose != nil {
		l.onClose()
	}
	l.mu.Lock()
	if n := l.counts[ip] - 1; n > 0 {
		l.counts[ip] = n
	} else {
		delete(l.counts, ip)
	}
	l.mu.Unlock()
}

type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
	// ja4 is the JA4 fingerprint of the connection's ClientHello, set
	// during the TLS handshake, before any request is read.
	ja4 string
}

// CloseWrite half-closes the connection, as net/http and the HTTP/1.1
// server do before closing after an answer.
func (c *cappedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *cappedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

func connRefusedEvent(ip netip.Addr) observe.Event {
	return observe.Event{Type: "connection.refused", Reason: "connection_cap", Stage: "connection", Status: 503,
		Rule: "max_connections_per_ip", ClientIP: ip.String(), Detail: "per-IP connection cap reached"}
}
