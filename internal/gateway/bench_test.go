package gateway

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
)

// BenchmarkServeHTTP measures the whole request path in process: stages
// 1-3, the body guard, the proxy to a loopback upstream with pooled
// connections, the access log and metrics. The HTTP server in front (the
// client side) is not included.
func BenchmarkServeHTTP(b *testing.B) {
	body := []byte(`{"items":[{"id":1}]}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
		_, _ = w.Write(body)
	}))
	defer up.Close()
	dir := b.TempDir()
	cfg, err := config.Parse(dir+"/r.yaml", []byte(fmt.Sprintf(`version: 1
server: {listen: ["127.0.0.1:0"]}
admin: {disabled: true}
access_log: {path: %s/access.log}
events: {sinks: [{type: jsonl, path: %s/events.jsonl}]}
upstreams:
  api: {targets: [{url: %s}]}
routes:
  - {name: items, match: {paths: ["/api/v1/items", "/api/v1/items/{id}"]}, upstream: api, policy: public}
`, dir, dir, up.URL)), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Shutdown(b.Context())
	req := httptest.NewRequest("GET", "http://api.example.com/api/v1/items?page=2&sort=name", nil)
	req.RemoteAddr = "192.0.2.10:51234"
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench/1")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		g.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		_, _ = io.Copy(io.Discard, w.Body)
	}
}
