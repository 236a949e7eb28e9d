package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// cpuLayout is where each process of a pinned run goes, as taskset CPU
// lists: the proxies under test share the proxy cores (one is measured at
// a time; the others sit idle), the load tool and the backend have their
// own, so that neither takes CPU from the proxy.
type cpuLayout struct {
	proxy   string // the 2-core rows
	proxy4  string // the 4-core rows; "" leaves them out
	load    string
	backend string
	// static makes the backend nginx answering the small GET itself
	// (bench/backend's body and type) instead of bench/backend: where
	// the backend shares the load tool's cores, a Go backend would be
	// slower than the proxies it serves.
	static bool
}

// pinLayout is the layout for a machine of ncpu cores: proxies on 0-1
// (and 0-3 for the 4-core rows, from 16 cores), the load tool on the
// next four, the backend on the rest. Under 8 cores the proxies get core
// 0 alone and the load tool and a static backend (nginx) share the
// others: the proxies' figures on one dedicated core, each compared with
// nginx on that core (whose own row may be held back by the load tool's
// core). One core is an error.
func pinLayout(ncpu int) (cpuLayout, error) {
	switch {
	case ncpu >= 16:
		return cpuLayout{proxy: "0-1", proxy4: "0-3", load: "4-7", backend: fmt.Sprintf("8-%d", ncpu-1)}, nil
	case ncpu >= 8:
		return cpuLayout{proxy: "0-1", load: "2-5", backend: fmt.Sprintf("6-%d", ncpu-1)}, nil
	case ncpu >= 2:
		rest := "1"
		if ncpu > 2 {
			rest = fmt.Sprintf("1-%d", ncpu-1)
		}
		return cpuLayout{proxy: "0", load: rest, backend: rest, static: true}, nil
	}
	return cpuLayout{}, fmt.Errorf("a pinned run needs at least 2 cores (the proxy on one, the load tool and the backend on the rest); this machine has %d", ncpu)
}

// pinLayoutFlags is pinLayout with the cores the flags name in set: all
// four set (or three, without 4-core rows) stand without pinLayout, on a
// machine of any size.
func pinLayoutFlags(set cpuLayout, ncpu int) (cpuLayout, error) {
	if set.proxy != "" && set.load != "" && set.backend != "" {
		for _, c := range []string{set.proxy, set.proxy4, set.load, set.backend} {
			if c != "" && cpuCount(c) == 0 {
				return cpuLayout{}, fmt.Errorf("-pin-*: %q is not a CPU list such as 0-1 or 4,6-7", c)
			}
		}
		return set, nil
	}
	l, err := pinLayout(ncpu)
	if err != nil {
		return l, err
	}
	for _, f := range []struct{ set, into *string }{{&set.proxy, &l.proxy}, {&set.proxy4, &l.proxy4}, {&set.load, &l.load}, {&set.backend, &l.backend}} {
		if *f.set != "" {
			if cpuCount(*f.set) == 0 {
				return cpuLayout{}, fmt.Errorf("-pin-*: %q is not a CPU list such as 0-1 or 4,6-7", *f.set)
			}
			*f.into = *f.set
		}
	}
	l.static = l.static || set.static
	return l, nil
}

// cpuCount is the number of CPUs in a taskset list such as 0-3,6,8-9; 0
// for a list it cannot read.
func cpuCount(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

// floorRow names bench/floorproxy's rows: the least a Go proxy does.
const floorRow = "Go floor proxy"

// pinnedRow is one proxy (or the backend alone) of the pinned run.
type pinnedRow struct {
	name  string
	cores int    // the proxy's cores: its rows are compared with nginx's on as many
	url   string // http://host:port
	pid   int    // its process (nginx's master: its workers are counted with it)
}

// pinnedEnv is a pinned run's processes.
type pinnedEnv struct {
	*env
	layout cpuLayout
	rows   []pinnedRow
	peers  []string // versions of nginx and HAProxy
}

// lastPID is the process started last.
func (e *pinnedEnv) lastPID() int { return e.procs[len(e.procs)-1].Process.Pid }

// pinned starts a process on cpus with GOMAXPROCS set to their count.
func (e *pinnedEnv) pinned(cpus, ready, name string, args ...string) error {
	cmd := exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", cpuCount(cpus)))
	if ready != "" {
		_, err := e.startCmd(ready, cmd)
		return err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	e.procs = append(e.procs, cmd)
	return nil
}

// setupPinned builds Rampart and the backend and starts, each on its
// cores: the backend, the backend again on the proxy cores (the Go
// server's own figure on as many cores as a proxy gets), Rampart on
// either HTTP/1.1 engine, nginx and HAProxy; on 2 cores, and on 4 when
// the layout has them.
func setupPinned(tags string, l cpuLayout) (*pinnedEnv, error) {
	dir, err := os.MkdirTemp("", "rampart-bench-pinned")
	if err != nil {
		return nil, err
	}
	root, _ := os.Getwd()
	e := &pinnedEnv{env: &env{dir: dir, tools: filepath.Join(root, ".tools")}, layout: l}
	fail := func(err error) (*pinnedEnv, error) { e.stop(); return nil, err }
	if err := buildBinaries(dir, tags); err != nil {
		return fail(err)
	}
	cert, key, err := selfSigned(dir)
	if err != nil {
		return fail(err)
	}
	backend := freePort()
	direct := fmt.Sprintf("direct (backend, %d cores)", cpuCount(l.backend))
	if l.static {
		direct = fmt.Sprintf("direct (nginx static backend, %d cores)", cpuCount(l.backend))
		if err := e.pinned(l.backend, "", "nginx", "-c", staticNginx(dir, cpuCount(l.backend), backend), "-p", dir, "-g", "daemon off;"); err != nil {
			return fail(err)
		}
		if err := waitPort(backend); err != nil {
			return fail(err)
		}
	} else if err := e.pinned(l.backend, "backend http", filepath.Join(dir, "backend"), "-listen", backend); err != nil {
		return fail(err)
	}
	e.rows = append(e.rows, pinnedRow{direct, 0, "http://" + backend, e.lastPID()})
	alone := freePort()
	if err := e.pinned(l.proxy, "backend http", filepath.Join(dir, "backend"), "-listen", alone); err != nil {
		return fail(err)
	}
	e.rows = append(e.rows, pinnedRow{"Go net/http server alone", cpuCount(l.proxy), "http://" + alone, e.lastPID()})
	floor := filepath.Join(dir, "floorproxy")
	if out, err := runCmd("go", "build", "-o", floor, "./bench/floorproxy"); err != nil {
		return fail(fmt.Errorf("build floorproxy: %v %s", err, out))
	}
	haproxy := true
	if _, err := exec.LookPath("haproxy"); err != nil {
		haproxy = false
		fmt.Fprintln(os.Stderr, "haproxy is not installed: its rows are left out (scripts/bench.sh installs it for BENCH_PIN=1)")
	}
	for _, cpus := range []string{l.proxy, l.proxy4} {
		if cpus == "" {
			continue
		}
		n := cpuCount(cpus)
		for _, engine := range []string{"stdlib", "rampart"} {
			name := "rampart"
			if engine == "rampart" {
				name = "rampart-h1"
			}
			label := fmt.Sprintf("%s-%d", name, n)
			plain := freePort()
			head := strings.Replace(gatewayHead(label, plain, freePort(), cert, key, dir, backend), "  limits:", "  http1_engine: "+engine+"\n  limits:", 1)
			cfg := writeFile(dir, label+".yaml", head+`routes:
  - {name: api, match: {paths: ["/**"]}, upstream: backend, policy: public}
`)
			if err := e.pinned(cpus, `"msg":"ready"`, filepath.Join(dir, "rampart"), "run", "-c", cfg); err != nil {
				return fail(err)
			}
			e.rows = append(e.rows, pinnedRow{name, n, "http://" + plain, e.lastPID()})
		}
		listen := freePort()
		if err := e.pinned(cpus, "floorproxy http", floor, "-listen", listen, "-backend", backend); err != nil {
			return fail(err)
		}
		e.rows = append(e.rows, pinnedRow{floorRow, n, "http://" + listen, e.lastPID()})
		listen = freePort()
		if err := e.pinned(cpus, "", "nginx", "-c", pinnedNginx(dir, n, listen, backend), "-p", dir, "-g", "daemon off;"); err != nil {
			return fail(err)
		}
		if err := waitPort(listen); err != nil {
			return fail(err)
		}
		e.rows = append(e.rows, pinnedRow{"nginx", n, "http://" + listen, e.lastPID()})
		if haproxy {
			listen := freePort()
			cfg := writeFile(dir, fmt.Sprintf("haproxy-%d.cfg", n), pinnedHAProxy(n, listen, backend))
			if err := e.pinned(cpus, "", "haproxy", "-f", cfg); err != nil {
				return fail(err)
			}
			if err := waitPort(listen); err != nil {
				return fail(err)
			}
			e.rows = append(e.rows, pinnedRow{"haproxy", n, "http://" + listen, e.lastPID()})
		}
	}
	v, _ := runCmd("nginx", "-v")
	e.peers = append(e.peers, strings.TrimSpace(strings.TrimPrefix(v, "nginx version: ")))
	if haproxy {
		v, _ := runCmd("haproxy", "-v") // HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/
		if f := strings.Fields(v); len(f) >= 3 {
			e.peers = append(e.peers, "HAProxy "+f[2])
		}
	}
	return e, nil
}

// pinnedNginx writes an nginx config for workers worker processes
// proxying listen to backend, under a prefix of its own, and returns its
// path.
func pinnedNginx(dir string, workers int, listen, backend string) string {
	prefix := filepath.Join(dir, fmt.Sprintf("nginx-%d", workers))
	return writeFile(dir, fmt.Sprintf("nginx-%d.conf", workers), nginxConfig(nginxSite{prefix: prefix, workers: workers, backend: backend, listen: listen}))
}

// staticNginx writes the config of an nginx with workers worker
// processes answering every request on listen itself with
// bench/backend's small JSON body, logging nothing, and returns its
// path: the backend of the pinned run on a small machine.
func staticNginx(dir string, workers int, listen string) string {
	prefix := filepath.Join(dir, "nginx-static")
	makeNginxPrefix(prefix)
	return writeFile(dir, "nginx-static.conf", fmt.Sprintf(`user root;
worker_processes %[2]d;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/nginx-error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  keepalive_requests 1000000;
  server {
    listen %[3]s;
    location / {
      default_type application/json;
      return 200 '{"items":[{"id":1,"name":"widget"},{"id":2,"name":"gadget"}],"page":2}';
    }
  }
}
`, prefix, workers, listen))
}

// nginxSite is what differs between the bench's nginx configs.
type nginxSite struct {
	prefix  string // pid, logs and temporary files go under it
	workers int
	backend string // host:port
	// backendTLS, when set, is the backend's TLS listener (host:port):
	// requests with X-Bench-Upstream: tls go there, over kept-alive TLS.
	backendTLS string
	listen     string // the cleartext listener, host:port
	tls        string // lines of the proxy's server block for its TLS listener
	modules    string // load_module lines
	servers    string // further server blocks
}

// nginxConfig is an nginx config proxying s.listen to s.backend the way
// BENCH.md asks: keep-alive upstream connections over HTTP/1.1 with an
// empty Connection header (or nginx opens a connection per request), and
// bodies streamed as Rampart streams them. It makes s.prefix's folders.
func nginxConfig(s nginxSite) string {
	makeNginxPrefix(s.prefix)
	tlsBlock, tlsPass := "", ""
	if s.backendTLS != "" {
		tlsBlock = fmt.Sprintf("  upstream backend_tls { server %s; keepalive 256; }\n", s.backendTLS)
		tlsPass = "      if ($http_x_bench_upstream = \"tls\") { proxy_pass https://backend_tls; }\n"
	}
	return fmt.Sprintf(`user root;
%[6]sworker_processes %[2]d;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/nginx-error.log warn;
events { worker_connections 16384; }
http {
  access_log %[1]s/logs/nginx-access.log;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  keepalive_requests 1000000;
  upstream backend { server %[4]s; keepalive 256; }
%[8]s  server {
    listen %[3]s;
%[5]s    client_max_body_size 1m;
    proxy_request_buffering off;        # stream bodies, as Rampart does
    location / {
%[9]s      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
%[7]s}
`, s.prefix, s.workers, s.listen, s.backend, s.tls, s.modules, s.servers, tlsBlock, tlsPass)
}

// makeNginxPrefix makes the folders an nginx config under prefix names
// (its logs, its temporary files).
func makeNginxPrefix(prefix string) {
	for _, d := range []string{"tmp", "logs"} {
		_ = os.MkdirAll(filepath.Join(prefix, d), 0o755)
	}
}

// pinnedHAProxy is an HAProxy config with threads threads proxying listen
// to backend over reused keep-alive connections, logging nothing (as
// HAProxy does by default: it logs through syslog, which has no reader
// here; nginx and Rampart write their access logs to files).
func pinnedHAProxy(threads int, listen, backend string) string {
	return fmt.Sprintf(`global
  nbthread %d
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind %s
  default_backend be
backend be
  http-reuse always
  server s1 %s
`, threads, listen, backend)
}

// pinnedTables is make bench with BENCH_PIN=1: the plain proxy's
// throughput (wrk, closed loop) and its latency at fixed rates (vegeta,
// open loop), every process on its own cores, in interleaved rounds.
func pinnedTables(e *pinnedEnv, path string, rounds int, dur, warm time.Duration, rates []int) {
	l := e.layout
	ld := load{threads: min(4, cpuCount(l.load)), cpus: l.load}
	fmt.Printf("Pinned run (BENCH_PIN=1): %d cores%s, %s. Proxies on cores %s (GOMAXPROCS=%d)", runtime.NumCPU(), cpuModel(), runtime.Version(), l.proxy, cpuCount(l.proxy))
	if l.proxy4 != "" {
		fmt.Printf(" and %s for the 4-core rows", l.proxy4)
	}
	backend := fmt.Sprintf("the backend on %s (GOMAXPROCS=%d)", l.backend, cpuCount(l.backend))
	if l.static {
		backend = fmt.Sprintf("the backend (nginx answering itself, %d workers) on %s", cpuCount(l.backend), l.backend)
	}
	fmt.Printf(", the load tool on %s, %s. Peers: %s. %d rounds of %v, medians.\n",
		l.load, backend, strings.Join(e.peers, ", "), rounds, dur)
	if l.static {
		fmt.Println("The load tool and the backend share their cores: a proxy faster than they are (nginx, HAProxy) is held back by them, and its row is a lower bound.")
	}
	fmt.Println()

	names := make([]string, len(e.rows))
	for i, r := range e.rows {
		names[i] = rowName(r)
	}
	all := interleave("pinned", names, rounds, warm, func(i int, d time.Duration) (result, error) {
		if d == 0 {
			d = dur
		}
		return withCPU(e.rows[i].pid, d, func() (result, error) { return ld.wrk(e.rows[i].url+path, d, 128, "") })
	})
	fmt.Printf("GET small, keep-alive, HTTP/1.1, wrk -t%d -c128:\n\n", ld.threads)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tcores\treq/s\tp50\tp99\tratio to nginx (same cores)\tper round: median (lowest-highest)\tCPU a request\tnginx's CPU a request / this\t")
	for _, r := range e.rows {
		m := median(all[rowName(r)])
		peer := rowName(pinnedRow{name: "nginx", cores: r.cores})
		rat, perRound, byCPU := "-", "-", "-"
		if r.cores > 0 {
			rat = ratio(m.rps, median(all[peer]).rps)
			if med, lo, hi, ok := roundRatios(all[rowName(r)], all[peer]); ok && r.name != "nginx" {
				perRound = fmt.Sprintf("%.2f (%.2f-%.2f)", med, lo, hi)
			}
			if pc := median(all[peer]).cpu; pc > 0 && m.cpu > 0 {
				byCPU = fmt.Sprintf("%.2f", float64(pc)/float64(m.cpu))
			}
		}
		cores := "-"
		if r.cores > 0 {
			cores = strconv.Itoa(r.cores)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.name, cores, m.rps, ms(m.p50), ms(m.p99), rat, perRound, us(m.cpu), byCPU)
	}
	tw.Flush()
	fmt.Println("(CPU a request: the process's user and system time over the run, /proc, over the requests it answered; the last column is what the\nthroughput ratio would be were no proxy held back by the load tool or the backend.)")
	for _, cpus := range []string{l.proxy, l.proxy4} {
		if cpus == "" {
			continue
		}
		runs := func(name string) []result { return all[rowName(pinnedRow{name: name, cores: cpuCount(cpus)})] }
		h1, std := runs("rampart-h1"), runs("rampart")
		if med, lo, hi, ok := roundRatios(h1, std); ok {
			fmt.Printf("proxies on cores %s: rampart-h1 (http1_engine: rampart) / rampart (net/http) per round %.2f (%.2f-%.2f); the engine becomes the default from 1.4\n", cpus, med, lo, hi)
		}
		if med, lo, hi, ok := roundRatios(h1, runs(floorRow)); ok {
			fmt.Printf("proxies on cores %s: rampart-h1 / %s (the least a Go proxy does) per round %.2f (%.2f-%.2f)\n", cpus, floorRow, med, lo, hi)
		}
		if h1cpu, stdcpu := median(h1).cpu, median(std).cpu; h1cpu > 0 && stdcpu > 0 {
			fmt.Printf("proxies on cores %s: CPU a request, rampart (net/http) / rampart-h1: %.2f\n", cpus, float64(stdcpu)/float64(h1cpu))
		}
	}
	fmt.Fprintln(os.Stderr, "done: pinned throughput")

	// The latency rows: the proxies on the 2-core layout and the backend.
	var lat []pinnedRow
	for _, r := range e.rows {
		if r.cores == 0 || (r.cores == cpuCount(l.proxy) && r.name != "Go net/http server alone") {
			lat = append(lat, r)
		}
	}
	for _, rate := range rates {
		names := make([]string, len(lat))
		for i, r := range lat {
			names[i] = rowName(r)
		}
		all := interleave(fmt.Sprintf("pinned %d req/s", rate), names, rounds, warm, func(i int, d time.Duration) (result, error) {
			if d == 0 {
				d = dur
			}
			return withCPU(lat[i].pid, d, func() (result, error) { return ld.vegeta(e.tools, "GET "+lat[i].url+path+"\n", rate, d) })
		})
		fmt.Printf("\nFixed rate %d req/s, GET small, keep-alive, vegeta (open loop, 64 connections), proxies on cores %s:\n\n", rate, l.proxy)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\tp50\tp99\tmax (median of the rounds')\tslowest of all rounds\tp99 added over nginx\tsuccess\tCPU a request\tnginx's CPU a request / this\t")
		peer := median(all[rowName(pinnedRow{name: "nginx", cores: cpuCount(l.proxy)})])
		for _, r := range lat {
			runs := all[rowName(r)]
			m := median(runs)
			var slowest time.Duration
			for _, run := range runs {
				slowest = max(slowest, run.max)
			}
			added := "-"
			if r.cores > 0 && r.name != "nginx" && peer.p99 > 0 {
				added = fmt.Sprintf("%+.2fms", float64(m.p99-peer.p99)/1e6)
			}
			byCPU := "-"
			if r.cores > 0 && peer.cpu > 0 && m.cpu > 0 {
				byCPU = fmt.Sprintf("%.2f", float64(peer.cpu)/float64(m.cpu))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.name, ms(m.p50), ms(m.p99), ms(m.max), ms(slowest), added, m.note, us(m.cpu), byCPU)
		}
		tw.Flush()
		fmt.Println("(CPU a request at a fixed rate: every proxy answers as many requests, so no proxy's cost is raised by a load tool or backend left idle\nmore often by a slower proxy, as in the closed loop above.)")
		fmt.Fprintf(os.Stderr, "done: pinned %d req/s\n", rate)
	}
}

// withCPU runs one load run of d against the process pid and adds its
// CPU time a request (user and system, from /proc, over the requests
// answered) to the result.
func withCPU(pid int, d time.Duration, run func() (result, error)) (result, error) {
	before, ok := procCPU(pid)
	res, err := run()
	if after, ok2 := procCPU(pid); err == nil && ok && ok2 && res.rps > 0 {
		res.cpu = time.Duration(float64(after-before) / (res.rps * d.Seconds()))
	}
	return res, err
}

// rowName tells rows with the same proxy on different cores apart.
func rowName(r pinnedRow) string {
	if r.cores == 0 {
		return r.name
	}
	return fmt.Sprintf("%s/%d", r.name, r.cores)
}

// cpuModel is ", " and the CPU's model name, or "" where /proc/cpuinfo
// does not say.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return ", " + strings.TrimSpace(v)
		}
	}
	return ""
}

// us is d in microseconds, "-" for none.
func us(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/1e3)
}
