package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func twoRouteConfig(up string, extraRoute bool, broken bool) string {
	cfg := fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: 127.0.0.1:0}
upstreams:
  echo: {targets: [{url: %s}]}
routes:
  - {name: a, match: {paths: ["/a"]}, upstream: echo, policy: public}
`, up)
	if extraRoute {
		cfg += "  - {name: b, match: {paths: [\"/b\"]}, upstream: echo, policy: public}\n"
	}
	if broken {
		cfg += "  - {name: c, match: {paths: [\"/c\"]}, upstream: nowhere, policy: public}\n"
	}
	return cfg
}

func adminJSON(t *testing.T, g *gw, path string) map[string]any {
	t.Helper()
	r := get(t, "http://"+g.admin+path)
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("admin %s: %s", path, r.body)
	}
	return m
}

func TestReload(t *testing.T) {
	up := startUpstream(t, "u1")
	g := startGateway(t, twoRouteConfig(up.url(), false, false))
	if get(t, g.url("/b")).status != 404 {
		t.Fatal("/b served before it was configured")
	}

	t.Run("SIGHUP applies a valid config", func(t *testing.T) {
		g.rewrite(t, twoRouteConfig(up.url(), true, false), true)
		waitFor(t, 10*time.Second, "route b", func() bool { return get(t, g.url("/b")).status == 200 })
	})
	t.Run("invalid config keeps the old one serving", func(t *testing.T) {
		g.rewrite(t, twoRouteConfig(up.url(), false, true), true)
		waitFor(t, 10*time.Second, "failed reload in /config/status", func() bool {
			return adminJSON(t, g, "/config/status")["ok"] == false
		})
		st := adminJSON(t, g, "/config/status")
		errs := st["errors"].([]any)
		e := errs[0].(map[string]any)
		if e["line"].(float64) != 8 || e["col"] == nil || !strings.Contains(e["message"].(string), `unknown upstream "nowhere"`) {
			t.Errorf("status errors = %v", errs)
		}
		if get(t, g.url("/b")).status != 200 || get(t, g.url("/a")).status != 200 {
			t.Error("old config stopped serving")
		}
		if !strings.Contains(g.stderr.String(), "config reload refused") {
			t.Error("refused reload not logged")
		}
	})
	t.Run("file change reloads without a signal", func(t *testing.T) {
		g.rewrite(t, twoRouteConfig(up.url(), false, false), false)
		waitFor(t, 10*time.Second, "route b removed", func() bool { return get(t, g.url("/b")).status == 404 })
		if adminJSON(t, g, "/config/status")["source"] != "file" {
			t.Error("status should name the file watcher")
		}
	})
	t.Run("restart-only settings refuse the reload", func(t *testing.T) {
		cfg := strings.Replace(twoRouteConfig(up.url(), true, false), `listen: ["127.0.0.1:0"]`, `listen: ["127.0.0.1:0", "127.0.0.1:0"]`, 1)
		g.rewrite(t, cfg, true)
		waitFor(t, 10*time.Second, "refused reload", func() bool {
			st := adminJSON(t, g, "/config/status")
			return st["ok"] == false && strings.Contains(fmt.Sprint(st["message"]), "server.listen cannot change on reload")
		})
		if get(t, g.url("/b")).status != 404 {
			t.Error("a refused reload was partly applied")
		}
	})
	t.Run("reload metrics", func(t *testing.T) {
		m := string(get(t, "http://"+g.admin+"/metrics").body)
		if !strings.Contains(m, `rampart_config_reloads_total{result="failure"} 2`) || !strings.Contains(m, `rampart_config_reloads_total{result="success"} 2`) {
			t.Errorf("reload metrics:\n%s", grep(m, "reload"))
		}
	})
}

// TestReloadFailsClosed swaps between two configs under load. In A the
// route /r goes to upstream "strict" with a 1 KiB body limit; in B it goes
// to "lenient" with no small limit. A 2 KiB POST must get either A's 413
// or B's 200 from "lenient": never a 200 from "strict", which would mean a
// request was served by A's route without A's policy.
func TestReloadFailsClosed(t *testing.T) {
	strict := startUpstream(t, "strict")
	lenient := startUpstream(t, "lenient")
	cfg := func(a bool) string {
		up, pol := "lenient", "public"
		if a {
			up, pol = "strict", "small"
		}
		return fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: 127.0.0.1:0}
upstreams:
  strict: {targets: [{url: %s}]}
  lenient: {targets: [{url: %s}]}
policies:
  small: {validate: {max_body_bytes: 1KiB}}
routes:
  - {name: r, match: {paths: ["/r"]}, upstream: %s, policy: %s}
`, strict.url(), lenient.url(), up, pol)
	}
	g := startGateway(t, cfg(true))
	var stop atomic.Bool
	var seen413, seenLenient, violations atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte("x"), 2048)
			for !stop.Load() {
				res, err := client.Post(g.url("/r"), "application/octet-stream", bytes.NewReader(body))
				if err != nil {
					violations.Add(1)
					continue
				}
				res.Body.Close()
				switch {
				case res.StatusCode == 413:
					seen413.Add(1)
				case res.StatusCode == 200 && res.Header.Get("X-Upstream") == "lenient":
					seenLenient.Add(1)
				default:
					violations.Add(1)
					t.Errorf("status %d from %q", res.StatusCode, res.Header.Get("X-Upstream"))
				}
			}
		}()
	}
	for i := range 20 {
		g.rewrite(t, cfg(i%2 == 1), true)
		time.Sleep(60 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if violations.Load() > 0 || seen413.Load() == 0 || seenLenient.Load() == 0 {
		t.Errorf("413s %d, lenient 200s %d, violations %d", seen413.Load(), seenLenient.Load(), violations.Load())
	}
}

func TestGracefulShutdown(t *testing.T) {
	up := startUpstream(t, "u1")
	g := startGateway(t, basicConfig(up.url()))
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		res, err := client.Get(g.url("/delay/800"))
		if err != nil {
			done <- result{err: err}
			return
		}
		res.Body.Close()
		done <- result{status: res.StatusCode}
	}()
	time.Sleep(200 * time.Millisecond) // the request is in flight
	g.signal(t, syscall.SIGTERM)
	r := <-done
	if r.err != nil || r.status != 200 {
		t.Errorf("in-flight request: status %d, err %v", r.status, r.err)
	}
	if code := g.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if _, err := net.DialTimeout("tcp", g.http, time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
}

// TestShutdownFirstRequest: on the gateway's own HTTP/1.1 server, a
// connection made just before a shutdown may still send its first
// request, which is answered with Connection: close; one that sends
// nothing is closed once it has waited past the grace (or the header
// timeout), and the gateway exits.
func TestShutdownFirstRequest(t *testing.T) {
	if engineOverride != "rampart" {
		t.Skip("net/http's server reads such a request and closes the connection unanswered, since it is shutting down; the Makefile runs this test on http1_engine: rampart")
	}
	up := startUpstream(t, "u1")
	g := startGateway(t, basicConfig(up.url()))
	fresh, silent := dialRaw(t, g.http), dialRaw(t, g.http)
	for _, c := range []net.Conn{fresh, silent} {
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	}
	time.Sleep(200 * time.Millisecond) // both accepted
	start := time.Now()
	g.signal(t, syscall.SIGTERM)
	waitFor(t, 5*time.Second, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", g.http, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if _, err := io.WriteString(fresh, "GET /v1/orders HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(fresh), nil)
	if err != nil {
		t.Fatalf("the first request of a connection made before the shutdown: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || !res.Close {
		t.Errorf("the first request of a connection made before the shutdown: status %d, Connection: close %v", res.StatusCode, res.Close)
	}
	if n, err := silent.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the silent connection: %d bytes, %v", n, err)
	} else if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Error("the silent connection stayed open")
	}
	if code := g.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	t.Logf("exited %v after the signal", time.Since(start).Round(100*time.Millisecond))
}

func TestDrainDelay(t *testing.T) {
	up := startUpstream(t, "u1")
	g := startGateway(t, strings.Replace(basicConfig(up.url()), "server:\n", "server:\n  drain_delay: 1s\n", 1))
	if r := get(t, "http://"+g.admin+"/readyz"); r.status != 200 {
		t.Fatalf("readyz %d before drain", r.status)
	}
	start := time.Now()
	g.signal(t, syscall.SIGTERM)
	waitFor(t, 2*time.Second, "readyz 503", func() bool { return get(t, "http://"+g.admin+"/readyz").status == 503 })
	r := get(t, g.url("/v1/orders"))
	if r.status != 200 || !r.close {
		t.Errorf("during the drain delay: status %d, connection close %v", r.status, r.close)
	}
	if code := g.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("exited after %v, before the drain delay", d)
	}
}

// TestUpstreamKilled kills one of two upstream processes under load:
// passive health ejects it and retries on connect failure hide it, so no
// client sees an error.
func TestUpstreamKilled(t *testing.T) {
	u1 := startUpstream(t, "u1")
	u2 := startUpstream(t, "u2")
	g := poolGateway(t, []*upstream{u1, u2}, `    balancer: least_requests
    health_check:
      passive: {consecutive_failures: 2, eject_for: 30s}
    retries: {attempts: 1, on: [connect_failure, reset]}
`)
	load := startLoad(g.url("/x"), 4)
	time.Sleep(300 * time.Millisecond)
	_ = u1.cmd.Process.Kill()
	<-u1.done
	time.Sleep(700 * time.Millisecond)
	load.end()
	if n := load.failuresSince(time.Time{}); n > 0 {
		t.Errorf("%d of %d requests failed after an upstream died", n, n+load.count("u1")+load.count("u2"))
	}
	if load.count("u1") == 0 {
		t.Error("u1 never served before it died")
	}
	m := string(get(t, "http://"+g.admin+"/metrics").body)
	if !strings.Contains(m, fmt.Sprintf(`rampart_upstream_target_healthy{target=%q,upstream="pool"} 0`, u1.addr)) {
		t.Errorf("u1 not reported ejected:\n%s", grep(m, "healthy"))
	}
}

func TestActiveHealthAndNoHealthyUpstream(t *testing.T) {
	u1 := startUpstream(t, "u1")
	g := startGateway(t, fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: 127.0.0.1:0}
upstreams:
  pool:
    targets: [{url: %s}]
    health_check:
      active: {path: /health, interval: 100ms, unhealthy_threshold: 2, healthy_threshold: 1}
routes:
  - {name: r, match: {paths: ["/**"]}, upstream: pool, policy: public}
`, u1.url()))
	if get(t, g.url("/x")).status != 200 {
		t.Fatal("not serving")
	}
	addr := u1.addr
	_ = u1.cmd.Process.Kill()
	<-u1.done
	waitFor(t, 5*time.Second, "503 no healthy upstream", func() bool {
		return get(t, g.url("/x")).status == 503
	})
	r := get(t, g.url("/x"))
	p := problemOf(t, r, 503)
	if p["type"] != "tag:rampart-gw.github.io,2026:problems/no-healthy-upstream" || r.header.Get("Retry-After") == "" {
		t.Errorf("problem %v, Retry-After %q", p, r.header.Get("Retry-After"))
	}
	// The upstream comes back on the same address: health checks notice.
	startUpstreamOn(t, "u1-again", addr)
	waitFor(t, 5*time.Second, "recovery", func() bool { return get(t, g.url("/x")).status == 200 })
}

// TestHealthSurvivesReload: a reload that leaves an upstream's definition
// unchanged keeps its health state (the target stays marked down).
func TestHealthSurvivesReload(t *testing.T) {
	u1 := startUpstream(t, "u1")
	cfg := func(extra string) string {
		return fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {listen: 127.0.0.1:0}
upstreams:
  pool:
    targets: [{url: %s}]
    health_check:
      active: {path: /status/500, interval: 10s, unhealthy_threshold: 1}
routes:
  - {name: r, match: {paths: ["/**"]}, upstream: pool, policy: public}
%s`, u1.url(), extra)
	}
	g := startGateway(t, cfg(""))
	waitFor(t, 5*time.Second, "marked unhealthy by the first probe", func() bool { return get(t, g.url("/x")).status == 503 })
	g.rewrite(t, cfg("  - {name: s, match: {paths: [\"/s\"]}, upstream: pool, policy: public}\n"), true)
	waitFor(t, 5*time.Second, "reload", func() bool { return adminJSON(t, g, "/config/status")["source"] == "sighup" })
	// With a 10s interval a fresh pool would be healthy again right now.
	if s := get(t, g.url("/x")).status; s != 503 {
		t.Errorf("status %d after reload: health state was lost", s)
	}
}

func TestConnectionCap(t *testing.T) {
	up := startUpstream(t, "u1")
	cfg := strings.Replace(basicConfig(up.url()), "max_header_bytes: 8KiB}", "max_header_bytes: 8KiB, max_connections_per_ip: 2}", 1)
	g := startGateway(t, cfg)
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", g.http)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	time.Sleep(100 * time.Millisecond) // both accepted
	resp := rawRequest(t, g.http, "GET /v1/orders HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(resp, "HTTP/1.1 503") || !strings.Contains(resp, "too-many-connections") {
		t.Errorf("third connection got %q", tail(resp, 300))
	}
	conns[0].Close()
	waitFor(t, 5*time.Second, "a slot frees up", func() bool {
		return strings.HasPrefix(rawRequest(t, g.http, "GET /v1/orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), "HTTP/1.1 200")
	})
	waitFor(t, 5*time.Second, "connection event", func() bool {
		for _, e := range g.events() {
			if e["reason"] == "connection_cap" {
				return true
			}
		}
		return false
	})
}

func TestAdminAPI(t *testing.T) {
	up := startUpstream(t, "u1")
	dir := t.TempDir()
	writeFile(t, dir+"/admin.token", "t0ken-value\n")
	g := startGatewayIn(t, dir, strings.Replace(basicConfig(up.url()), "admin:\n  listen: 127.0.0.1:0", "admin:\n  listen: 127.0.0.1:0\n  token: file:admin.token", 1))
	base := "http://" + g.admin
	for _, path := range []string{"/healthz", "/config", "/metrics"} {
		r := get(t, base+path)
		problemOf(t, response{status: r.status, header: r.header, body: r.body}, 401)
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate", path)
		}
	}
	if r := do(t, client, "GET", base+"/healthz", nil, map[string]string{"Authorization": "Bearer wrong"}); r.status != 401 {
		t.Errorf("wrong token: %d", r.status)
	}
	auth := map[string]string{"Authorization": "Bearer t0ken-value"}
	get(t, g.url("/v1/orders"))
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/config": "file:admin.token", "/config/status": `"ok": true`,
		"/metrics": `rampart_requests_total{code="200",route="orders"}`, "/metrics#conns": "rampart_connections_open 1", "/metrics#inflight": "rampart_requests_in_flight 0"} {
		path, _, _ = strings.Cut(path, "#")
		r := do(t, client, "GET", base+path, nil, auth)
		if r.status != 200 || !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d, want %q in %s", path, r.status, want, tail(string(r.body), 300))
		}
		if strings.Contains(string(r.body), "t0ken-value") {
			t.Errorf("%s leaks the admin token", path)
		}
	}
	if r := do(t, client, "POST", base+"/config/reload", nil, auth); r.status != 200 {
		t.Errorf("reload: %d %s", r.status, r.body)
	}
}

var _ = http.StatusOK
