// Package leak checks that a gateway leaves no goroutine behind: it
// serves every kind of exchange, reloads and shuts down, and goleak
// checks what is left. It lives in the test module, with goleak, so the
// gateway's own module does not require it.
package leak

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rampart-gw/rampart/internal/echo"
	"github.com/rampart-gw/rampart/internal/gateway"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(dir, upstream string, extra string) string {
	return fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"], limits: {max_body_bytes: 4KiB}}
admin: {disabled: true}
access_log: {path: %s/access.log}
events: {sinks: [{type: jsonl, path: %s/events.jsonl}]}
upstreams:
  echo:
    targets: [{url: %s}]
    health_check:
      active: {path: /health, interval: 100ms}
      passive: {consecutive_failures: 3}
    circuit_breaker: {}
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: echo, policy: public}
%s`, dir, dir, upstream, extra)
}

// TestNoGoroutineLeaks serves every kind of exchange (plain, streamed,
// upgraded, refused, aborted), reloads, and shuts down; goleak then checks
// that nothing outlived the gateway.
func TestNoGoroutineLeaks(t *testing.T) {
	up := httptest.NewServer(echo.Handler("u"))
	defer up.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(path, []byte(testConfig(dir, up.URL, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.Load(path, false)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, gateway.Options{ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() { _ = g.Watch(ctx); close(watchDone) }()
	base := "http://" + g.Addrs()[0].Addr.String()
	c := &http.Client{Transport: &http.Transport{}}
	for _, p := range []string{"/a", "/sse", "/bytes/100000", "/status/502", "/a/../b"} {
		res, err := c.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	res, err := c.Post(base+"/big", "text/plain", strings.NewReader(strings.Repeat("x", 8192)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("oversized body: %d", res.StatusCode)
	}
	// A client that goes away mid-response.
	res, err = c.Get(base + "/delay/300")
	if err == nil {
		res.Body.Close()
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx2, "GET", base+"/delay/2000", nil)
	if _, err := c.Do(req); err == nil {
		t.Error("expected the client timeout")
	}
	cancel2()
	// An upgraded connection the client closes.
	conn, err := net.Dial("tcp", g.Addrs()[0].Addr.String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	if r, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || r.StatusCode != 101 {
		t.Fatalf("upgrade: %v", err)
	}
	conn.Close()
	// Reload twice: once changing the upstream (new pool, old one closed),
	// once invalid.
	if err := os.WriteFile(path, []byte(testConfig(dir, up.URL, "  - {name: b, match: {paths: [\"/b\"]}, upstream: echo, policy: public}\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload("test"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("version: 1\nbogus: true\n"), 0o600)
	if err := g.Reload("test"); err == nil {
		t.Fatal("invalid reload applied")
	}
	c.CloseIdleConnections()
	cancel()
	<-watchDone
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := g.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if !strings.Contains(string(b), `"reason":"body_too_large"`) || !strings.Contains(string(b), `"type":"config.reload_failed"`) {
		t.Errorf("events file:\n%s", b)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "access.log"))
	if n := strings.Count(string(b), `"msg":"request"`); n < 9 {
		t.Errorf("access log has %d lines:\n%s", n, b)
	}
}
