package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// testUpstream is an upstream definition with the defaults config.Load
// would apply.
func testUpstream(target string) *config.Upstream {
	zero := 0
	return &config.Upstream{
		Targets:      []config.Target{{URL: target, Weight: 1}},
		Balancer:     "round_robin",
		Timeouts:     config.Timeouts{Connect: config.Duration(1e9), ResponseHeader: config.Duration(5e9)},
		Retries:      config.Retries{Attempts: &zero, Budget: &config.RetryBudget{Ratio: 0.2, MinPerSecond: 5}},
		MaxIdleConns: 4,
	}
}

// withState gives each request the state the gateway's front stages would.
func withState(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqctx.State{ClientIP: netip.MustParseAddr("127.0.0.1")}
		st.AccessRecord.ClientIP = "127.0.0.1"
		h.ServeHTTP(w, r.WithContext(reqctx.With(r.Context(), st)))
	})
}

// rawServer serves each accepted connection with handle, on its own
// goroutine, until the test ends. It returns host:port.
func rawServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().String()
}

// countingServer serves h, counting the connections it accepts; it is
// closed when the test ends.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	srv, conns := newCountingServer(h)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, conns
}

// countingTLSServer is countingServer over TLS, offering HTTP/2 by ALPN
// when h2 is set (HTTP/1.1 only otherwise).
func countingTLSServer(t *testing.T, h http.Handler, h2 bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	srv, conns := newCountingServer(h)
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, conns
}

func newCountingServer(h http.Handler) (*httptest.Server, *atomic.Int32) {
	conns := &atomic.Int32{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	return srv, conns
}
