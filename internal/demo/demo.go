// Package demo runs `rampart demo`: the gateway and the built-in echo
// upstream on free loopback ports, with ready-to-paste curl commands.
package demo

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rampart-gw/rampart/internal/admin"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/echo"
	"github.com/rampart-gw/rampart/internal/gateway"
	"github.com/rampart-gw/rampart/internal/store"
)

// Options configure the demo.
type Options struct {
	Version string
	Log     *slog.Logger
	Out     io.Writer // banner; the access log goes to stdout
}

// Config is the demo's config; %s is the echo upstream's URL.
const Config = `version: 1
server:
  listen: ["127.0.0.1:0"]
  limits: {max_body_bytes: 1MiB}
admin:
  listen: 127.0.0.1:0
access_log: {path: stdout}
events:
  sinks: [{type: jsonl, path: stderr}]
store: {driver: embedded, path: demo.db, sync_interval: 1s}
authenticators:
  demo-keys: {type: api_key, in: "header:X-API-Key"}
upstreams:
  echo:
    targets: [{url: %s}]
    health_check:
      active: {path: /health, interval: 5s}
      passive: {consecutive_failures: 5, eject_for: 10s}
policies:
  documented:
    validate: {openapi: demo-api.yaml}
  keyed:
    authenticate: [demo-keys]
    authorize: {any_authenticated: true}
    rate_limits: [{key: consumer, rate: 5/s, burst: 10}]
    quota: {limit: 1000, period: day}
    validate: {openapi: demo-api.yaml}
  small-uploads:
    validate: {max_body_bytes: 1KiB}
  support:
    response:
      remove_fields: [ssn, internal, "orders[*].internal_cost", "**.password"]
      mask: [email, phone, card, iban, ip]
routes:
  - name: echo
    match: {paths: ["/echo", "/echo/**"], methods: [GET, POST]}
    upstream: echo
    policy: documented
  - name: orders
    match: {paths: ["/orders/{id}"], methods: [GET]}
    upstream: echo
    policy: keyed
  - name: uploads
    match: {paths: ["/upload"], methods: [POST, PUT]}
    upstream: echo
    policy: small-uploads
    rewrite: {path: /echo/upload}
  - name: events
    match: {paths: ["/events"], methods: [GET]}
    upstream: echo
    policy: public
    rewrite: {path: /sse}
  - name: customers
    match: {paths: ["/customers/{id}"], methods: [GET]}
    upstream: echo
    policy: support
portal: {title: Rampart demo, policy: keyed}
`

//go:embed demo-api.yaml
var demoAPI []byte

// demoKey creates the demo consumer's API key in the demo's store.
func demoKey(ctx context.Context, cfg *config.Config) (string, error) {
	d, err := store.BuiltinDrivers().Open(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer d.Close()
	plain, _, err := (&store.Keys{D: d, Hasher: store.NewHasher("")}).Create(ctx, "demo", store.CreateOptions{})
	return plain, err
}

// Run serves until ctx ends, then drains.
func Run(ctx context.Context, o Options) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start echo upstream: %w", err)
	}
	up := &http.Server{Handler: echo.Handler("echo"), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = up.Serve(l) }()
	defer up.Close()

	// The OpenAPI description and the key store live in a directory of
	// the demo's own, gone when it stops.
	dir, err := os.MkdirTemp("", "rampart-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "demo-api.yaml"), demoAPI, 0o600); err != nil {
		return err
	}
	cfg, err := config.ParseWith(filepath.Join(dir, "demo.yaml"), fmt.Appendf(nil, Config, "http://"+l.Addr().String()), os.LookupEnv, gateway.LoadOptions(false, nil))
	if err != nil {
		return err
	}
	key, err := demoKey(ctx, cfg)
	if err != nil {
		return err
	}
	g, err := gateway.New(cfg, gateway.Options{Version: o.Version, Log: o.Log})
	if err != nil {
		return err
	}
	if err := g.Start(map[string]http.Handler{cfg.Admin.Listen: admin.Handler(g, g.Metrics().Handler(), o.Log)}); err != nil {
		_ = g.Shutdown(context.Background())
		return err
	}
	var gw, adm string
	for _, a := range g.Addrs() {
		switch a.Kind {
		case "http":
			gw = a.Addr.String()
		case "admin":
			adm = a.Addr.String()
		}
	}
	if gw == "" {
		return errors.New("no gateway listener")
	}
	fmt.Fprintf(o.Out, `Rampart %s demo: gateway on http://%[2]s, echo upstream on http://%[3]s, admin on http://%[4]s

Try these in another terminal:

  # passes: proxied to the echo upstream (see the X-Forwarded-* and X-Request-Id it received)
  curl -i http://%[2]s/echo/hello

  # 404 problem: no route
  curl -i http://%[2]s/nope

  # 405 problem: the route only allows GET and POST (see the Allow header)
  curl -i -X DELETE http://%[2]s/echo/hello

  # 413 problem: /upload accepts 1 KiB bodies; this sends 4 KiB
  head -c 4096 /dev/zero | curl -i -X POST --data-binary @- http://%[2]s/upload

  # server-sent events, streamed as they happen
  curl -N http://%[2]s/events

  # a customer record with internal fields removed and personal data masked
  # (the upstream's own: curl -s http://%[3]s/customers/42)
  curl -s http://%[2]s/customers/42

  # an API key route: 401 without the key, 200 with it (the key is the demo's own)
  curl -i http://%[2]s/orders/ord_1
  curl -i -H 'X-API-Key: %[5]s' http://%[2]s/orders/ord_1

  # in a browser: the developer portal (API reference, try-it console, problem pages;
  # "My account" with the key above shows its usage and rotates it)
  http://%[2]s/portal/
  # and the security dashboard (refusals, bans, WAF matches, upstream health, reloads)
  http://%[4]s/dashboard

  # the admin API: metrics and the serving config
  curl -s http://%[4]s/metrics | grep rampart_requests_total
  curl -s http://%[4]s/config/status

Access log lines follow on stdout, security events on stderr. Press Ctrl-C to stop.
`, o.Version, gw, l.Addr(), adm, key)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = g.Shutdown(sctx)
	fmt.Fprintln(o.Out, "\nstopped")
	return err
}
