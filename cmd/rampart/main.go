// Command rampart is the Rampart API gateway: flags and wiring only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rampart-gw/rampart/internal/admin"
	"github.com/rampart-gw/rampart/internal/audit"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/demo"
	"github.com/rampart-gw/rampart/internal/echo"
	"github.com/rampart-gw/rampart/internal/gateway"
	"github.com/rampart-gw/rampart/internal/registry"
	"github.com/rampart-gw/rampart/internal/waf"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

const usage = `Rampart: a security-first API gateway.

Usage:
  rampart run -c rampart.yaml        serve; SIGHUP or a file change reloads
  rampart validate -c rampart.yaml   check a config: exit 0, or 1 with FILE:LINE:COL: message lines
           [--explain ROUTE]         print the chain of checks a request to ROUTE meets
           [--offline]               without the deployment's env vars, secret files, certificates
  rampart audit -c rampart.yaml      security review: FILE:LINE:COL: severity: [id] finding lines;
           [--fail-on high]          exit 1 when one is at least that severe
  rampart demo                       gateway + built-in echo upstream on free loopback ports
  rampart keys create|list|revoke|rotate --consumer ID [-c rampart.yaml]
                                     manage API keys in the configured store
  rampart consumers put|get|list --id ID [--roles a,b] [--scopes a,b] [--attr k=v]
                                     manage consumer records (roles, attributes) in the store
  rampart grants create|list|revoke --consumer ID --role ROLE --for 2h --reason TEXT
                                     just-in-time roles that expire by themselves
  rampart access review [--format table|json|csv] [--revoke-unused]
                                     consumers' roles, keys and grants; unused keys and roles flagged
  rampart bans list|lift [ID]        list or lift graduated-response bans (asks the admin API)
  rampart cache purge [ROUTE]        drop cached responses of a route, or all (asks the admin API)
  rampart trail verify|export        check the tamper-evident audit trail, or export it for a SIEM
  rampart schema                     JSON Schema of the config, for editors
  rampart echo -listen ADDR          run the built-in echo upstream alone
  rampart version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(args, stderr)
	case "validate":
		return cmdValidate(args, stdout, stderr)
	case "demo":
		return cmdDemo(args, stdout, stderr)
	case "keys":
		return cmdKeys(args, stdout, stderr)
	case "consumers":
		return cmdConsumers(args, stdout, stderr)
	case "grants":
		return cmdGrants(args, stdout, stderr)
	case "access":
		return cmdAccess(args, stdout, stderr)
	case "bans":
		return cmdBans(args, stdout, stderr)
	case "trail":
		return cmdTrail(args, stdout, stderr)
	case "cache":
		return cmdCache(args, stdout, stderr)
	case "audit":
		return cmdAudit(args, stdout, stderr)
	case "schema":
		b, err := config.Schema(gateway.LoadOptions(false, nil))
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	case "echo":
		return cmdEcho(args, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "rampart %s (WAF regex engine: %s)\n", versionString(), waf.RegexEngine)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "rampart: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func configFlag(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	return *path, true
}

func printConfigErrors(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	explain := fs.String("explain", "", "print the chain of checks a request to this route meets")
	offline := fs.Bool("offline", false, "check without the deployment's secrets and files: environment variables, secret files and absent certificates, keys, CRLs and databases are listed as not checked instead of failing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := gateway.Load(*path, *offline)
	if err == nil {
		// What only compiling finds: WAF rules Coraza refuses, a country
		// database that does not open.
		err = gateway.Check(cfg)
	}
	if err != nil {
		printConfigErrors(stderr, err)
		return 1
	}
	if *explain != "" {
		if err := audit.Explain(stdout, cfg, registry.Builtin(), *explain); err != nil {
			fmt.Fprintln(stderr, "rampart validate:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes, %d upstreams, %d policies)\n", *path, len(cfg.Routes), len(cfg.Upstreams), len(cfg.Policies))
	for _, u := range cfg.Unchecked {
		fmt.Fprintf(stdout, "  not checked (offline): %s\n", u)
	}
	return 0
}

// cmdAudit lists the config's weaknesses. Exit 0: none at or above
// --fail-on; 1: some; 2: usage or an invalid config.
func cmdAudit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	failOn := fs.String("fail-on", "high", "exit 1 when a finding is at least this severe: info, low, medium or high")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	threshold, ok := audit.ParseSeverity(*failOn)
	if !ok {
		fmt.Fprintf(stderr, "rampart audit: --fail-on %q: want info, low, medium or high\n", *failOn)
		return 2
	}
	cfg, err := gateway.Load(*path, false)
	if err != nil {
		printConfigErrors(stderr, err)
		fmt.Fprintln(stderr, "rampart audit: the config is invalid; fix it first (rampart validate)")
		return 2
	}
	findings := audit.Audit(cfg, registry.Builtin())
	worst := audit.Severity(-1)
	counts := map[audit.Severity]int{}
	for _, f := range findings {
		fmt.Fprintln(stdout, f)
		counts[f.Severity]++
		worst = max(worst, f.Severity)
	}
	fmt.Fprintf(stdout, "%s: %d findings (%d high, %d medium, %d low, %d info)\n", *path, len(findings),
		counts[audit.High], counts[audit.Medium], counts[audit.Low], counts[audit.Info])
	if len(findings) > 0 && worst >= threshold {
		return 1
	}
	return 0
}

func cmdRun(args []string, stderr io.Writer) int {
	path, ok := configFlag("run", args, stderr)
	if !ok {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	cfg, err := gateway.Load(path, false)
	if err != nil {
		printConfigErrors(stderr, err)
		fmt.Fprintln(stderr, "rampart: refusing to start with an invalid config")
		return 1
	}
	// The registries of extension types (docs/extending.md).
	g, err := gateway.New(cfg, gateway.Options{Version: versionString(), Log: log, ConfigPath: path,
		Set: registry.Builtin()})
	if err != nil {
		log.Error("cannot start", "error", err.Error())
		printConfigErrors(stderr, err)
		fmt.Fprintln(stderr, "rampart: cannot start with this config")
		return 1
	}
	return serve(g, cfg, log, stderr)
}

// serve starts g and its admin API, reloads on SIGHUP and file changes,
// and drains on SIGTERM or SIGINT.
func serve(g *gateway.Gateway, cfg *config.Config, log *slog.Logger, stderr io.Writer) int {
	adminHandlers := map[string]http.Handler{}
	if !cfg.Admin.Disabled {
		adminHandlers[cfg.Admin.Listen] = admin.Handler(g, g.Metrics().Handler(), log)
	}
	if err := g.Start(adminHandlers); err != nil {
		log.Error("cannot start", "error", err.Error())
		printConfigErrors(stderr, err)
		_ = g.Shutdown(context.Background())
		return 1
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		if err := g.Watch(ctx); err != nil {
			log.Warn("config file watching is off", "error", err.Error())
		}
	}()
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	log.Info("ready", "version", versionString(), "waf_regex_engine", waf.RegexEngine)
	for s := range sig {
		switch s {
		case syscall.SIGHUP:
			_ = g.Reload("sighup")
			continue
		case syscall.SIGUSR1:
			if err := g.ReopenLogs(); err != nil {
				log.Error("reopening log files failed", "error", err.Error())
			} else {
				log.Info("log files reopened")
			}
			continue
		}
		timeout := g.Config().Server.ShutdownTimeout.D()
		g.BeginDrain()
		if d := g.Config().Server.DrainDelay.D(); d > 0 {
			log.Info("draining: still serving while load balancers notice", "signal", s.String(), "drain_delay", d.String())
			select {
			case <-time.After(d):
			case s2 := <-sig: // a second signal skips the delay
				log.Info("drain delay cut short", "signal", s2.String())
			}
		}
		log.Info("draining", "signal", s.String(), "timeout", timeout.String())
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := g.Shutdown(sctx)
		cancel()
		if err != nil {
			log.Warn("shutdown timed out; remaining connections closed", "error", err.Error())
		}
		log.Info("stopped")
		return 0
	}
	return 0
}

func cmdEcho(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("listen", "127.0.0.1:0", "listen address")
	name := fs.String("name", "", "name reported in replies (X-Upstream)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stderr, "echo listening on %s\n", l.Addr())
	srv := &http.Server{Handler: echo.Handler(*name), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv.Protocols = &p
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, demo.Options{Version: versionString(), Log: log, Out: stdout}); err != nil {
		fmt.Fprintln(stderr, "rampart demo:", err)
		return 1
	}
	return 0
}
