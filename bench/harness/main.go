// Command harness is `make bench` (DESIGN.md §10, shared BENCH.md): one
// backend process, measured directly, through Rampart and through nginx
// as a peer reverse proxy, with the same load tool per scenario, in
// interleaved rounds (direct, rampart, nginx, direct, ...), medians
// reported with their ratio to direct.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// stopOnSignal stops env's processes on Ctrl-C or a kill: none of the
// backend, Rampart or the peers is left behind.
func stopOnSignal(env *env) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		env.stop()
		os.Exit(130)
	}()
}

type target struct {
	name  string
	plain string // http://host:port
	tls   string // https://host:port
}

type scenario struct {
	name string
	run  func(t target, d time.Duration) (result, error)
}

type result struct {
	rps      float64
	p50, p99 time.Duration // zero when the tool does not report them
	max      time.Duration // the slowest request; vegeta only
	cpu      time.Duration // the target's CPU time (user and system) a request; pinned throughput only
	note     string
	round    int // set by interleave
}

func main() {
	rounds := flag.Int("rounds", 3, "interleaved rounds per scenario")
	dur := flag.Duration("duration", 8*time.Second, "measurement per run")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up before the first round of each scenario and target")
	rate := flag.Int("rate", 2000, "fixed request rate for the latency run")
	threatRate := flag.Int("threat-rate", 300, "fixed request rate for the waf and openapi latency run")
	only := flag.String("only", "", "run only scenarios whose name contains this")
	tags := flag.String("tags", "re2_cgo", "build tags for Rampart (re2_cgo: the WAF's @rx on RE2, as `make build` does when libre2 is installed)")
	baseline := flag.String("baseline", "", "a git ref (a commit, a branch, HEAD~1) built and measured beside the working tree's Rampart in the first table, on its plain route with the same logging: a change's cost in one run")
	pin := flag.Bool("pin", false, "the pinned run (BENCH_PIN=1): every process on its own cores, proxies on 2 (and 4) of them, with nginx and HAProxy as peers; under 8 cores the proxies get core 0 and the backend is a static nginx")
	var layout cpuLayout
	flag.StringVar(&layout.proxy, "pin-proxy", "", "with -pin: the proxies' cores for the 2-core rows, a taskset list (default 0-1)")
	flag.StringVar(&layout.proxy4, "pin-proxy4", "", "with -pin: the proxies' cores for the 4-core rows (default 0-3 from 16 cores, else none)")
	flag.StringVar(&layout.load, "pin-load", "", "with -pin: the load tool's cores (default the four after the proxies')")
	flag.StringVar(&layout.backend, "pin-backend", "", "with -pin: the backend's cores (default the rest)")
	flag.BoolVar(&layout.static, "pin-static-backend", false, "with -pin: the backend is nginx answering the small GET itself, not bench/backend (the default under 8 cores)")
	pinRates := flag.String("pin-rates", "2000,10000", "with -pin: the fixed rates of the latency runs, req/s")
	flag.Parse()

	path := "/api/v1/items?page=2&sort=name&q=widget"
	if *pin {
		l, err := pinLayoutFlags(layout, runtime.NumCPU())
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		var rates []int
		for _, f := range strings.Split(*pinRates, ",") {
			r, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || r <= 0 {
				fmt.Fprintf(os.Stderr, "bench: -pin-rates %q: each rate is a positive number of requests per second\n", *pinRates)
				os.Exit(2)
			}
			rates = append(rates, r)
		}
		e, err := setupPinned(*tags, l)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench setup:", err)
			os.Exit(1)
		}
		defer e.stop()
		stopOnSignal(e.env)
		pinnedTables(e, path, *rounds, *dur, *warm, rates)
		return
	}

	env, err := setup(*tags, *baseline)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench setup:", err)
		os.Exit(1)
	}
	defer env.stop()
	stopOnSignal(env)

	targets := []target{env.direct, env.rampart, env.h1, env.nginx}
	if env.before.name != "" {
		targets = append(targets, env.before)
	}
	scenarios := []scenario{
		{"GET small, keep-alive, HTTP/1.1", func(t target, d time.Duration) (result, error) {
			return wrk(t.plain+path, d, 50, "")
		}},
		{"POST 16 KiB, keep-alive, HTTP/1.1", func(t target, d time.Duration) (result, error) {
			return wrk(t.plain+"/api/v1/items", d, 50, env.postScript)
		}},
		{"GET small, keep-alive, upstream over TLS", func(t target, d time.Duration) (result, error) {
			if t.name == "direct" { // the backend's TLS listener itself
				return wrk(t.tls+path, d, 50, "")
			}
			return wrk(t.plain+path, d, 50, "", "X-Bench-Upstream: tls")
		}},
		{"GET small, new connection each", func(t target, d time.Duration) (result, error) {
			waitTimeWait(25000)
			return wrk(t.plain+path, d/2, 8, env.closeScript)
		}},
		{"GET small, HTTP/1.1 over TLS", func(t target, d time.Duration) (result, error) {
			return wrk(t.tls+path, d, 50, "")
		}},
		{"GET small, h2 over TLS (h2load)", func(t target, d time.Duration) (result, error) {
			return h2load(t.tls+path, d, 50)
		}},
	}
	fmt.Printf("Rampart benchmark: %d cores, %s, %d rounds of %v, medians. Backend, Rampart and nginx %s on one machine.\n\n",
		runtime.NumCPU(), runtime.Version(), *rounds, *dur, env.nginxVersion)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\treq/s\tp50\tp99\tratio to direct\t")
	var afterBefore []string // the working tree against -baseline, per scenario
	var engines []string     // http1_engine: rampart against net/http, per scenario
	for _, sc := range scenarios {
		if *only != "" && !strings.Contains(sc.name, *only) {
			continue
		}
		all := map[string][]result{}
		for r := 0; r < *rounds; r++ {
			for _, t := range targets {
				if r == 0 && *warm > 0 {
					_, _ = sc.run(t, *warm)
				}
				res, err := sc.run(t, *dur)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s / %s: %v\n", sc.name, t.name, err)
					continue
				}
				res.round = r
				all[t.name] = append(all[t.name], res)
			}
		}
		if med, lo, hi, ok := roundRatios(all[env.h1.name], all["rampart"]); ok {
			engines = append(engines, fmt.Sprintf("%s: rampart-h1 (http1_engine: rampart) / rampart (net/http) per round %.3f (%.3f-%.3f)", sc.name, med, lo, hi))
		}
		if med, lo, hi, ok := roundRatios(all["rampart"], all[env.before.name]); ok && env.before.name != "" {
			afterBefore = append(afterBefore, fmt.Sprintf("%s: rampart / %s per round %.3f (%.3f-%.3f)", sc.name, env.before.name, med, lo, hi))
		}
		base := median(all["direct"]).rps
		for _, t := range targets {
			m := median(all[t.name])
			ratio := "-"
			if base > 0 {
				ratio = fmt.Sprintf("%.2f", m.rps/base)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t\n", sc.name, t.name, m.rps, ms(m.p50), ms(m.p99), ratio)
		}
		fmt.Fprintf(os.Stderr, "done: %s\n", sc.name)
	}
	tw.Flush()
	for _, l := range engines {
		fmt.Println(l)
	}
	for _, l := range afterBefore {
		fmt.Println(l)
	}

	if *only == "" || strings.Contains("security", *only) {
		securityTable(env, path, *rounds, *dur, *warm)
	}

	if *only == "" || strings.Contains("threats waf openapi", *only) {
		threatTable(env, *rounds, *threatRate, *dur, *warm)
	}

	if *only == "" || strings.Contains("data mask encrypt", *only) {
		dataTable(env, *rounds, *dur, *warm)
	}

	if *only == "" || strings.Contains("functions cache transform", *only) {
		functionsTable(env, path, *rounds, *dur, *warm)
	}
	if *only == "" || strings.Contains("grpc", *only) {
		grpcTable(env, path, *rounds, *dur, *warm)
	}

	if env.rampartRedis != "" && (*only == "" || strings.Contains("ratelimit latency", *only)) {
		rateLimitLatency(env, path, *rate, *rounds, *dur, *warm)
	}

	if *only == "" || strings.Contains("fixed rate", *only) {
		fmt.Printf("\nFixed rate %d req/s, GET small, keep-alive, vegeta (open loop, 64 connections), %d rounds of %v, medians:\n\n", *rate, *rounds, *dur)
		tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\tp50\tp99\tp99 added over direct\tsuccess\t")
		all := map[string][]result{}
		for _, t := range targets {
			if *warm > 0 { // connections, pools and caches warm
				_, _ = vegeta(env.tools, t.plain+path, *rate, *warm)
			}
		}
		for r := 0; r < *rounds; r++ {
			for _, t := range targets {
				res, err := vegeta(env.tools, t.plain+path, *rate, *dur)
				if err != nil {
					fmt.Fprintf(os.Stderr, "fixed rate / %s: %v\n", t.name, err)
					continue
				}
				all[t.name] = append(all[t.name], res)
			}
		}
		base := median(all["direct"])
		for _, t := range targets {
			m := median(all[t.name])
			added := "-"
			if t.name != "direct" {
				added = fmt.Sprintf("%+.2fms", float64(m.p99-base.p99)/1e6)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", t.name, ms(m.p50), ms(m.p99), added, m.note)
		}
		tw.Flush()
	}
}

// interleave measures each named row rounds times. Each round starts one
// row later, so none always runs in the same position (first after a
// pause, last before one); with warm > 0 each row is warmed before its
// first run. Failed runs are reported on stderr under label and left out.
func interleave(label string, names []string, rounds int, warm time.Duration, run func(i int, d time.Duration) (result, error)) map[string][]result {
	all := map[string][]result{}
	for r := 0; r < rounds; r++ {
		for k := range names {
			i := (k + r) % len(names)
			if r == 0 && warm > 0 {
				_, _ = run(i, warm)
			}
			res, err := run(i, 0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s / %s: %v\n", label, names[i], err)
				continue
			}
			res.round = r
			all[names[i]] = append(all[names[i]], res)
		}
	}
	return all
}

// roundRatios returns, for each round in which both ran, rs's
// throughput over base's: the same round's runs are minutes apart at
// most, so a drift of the machine over the whole run cancels out of each.
// It returns the median, the lowest and the highest.
func roundRatios(rs, base []result) (med, lo, hi float64, ok bool) {
	byRound := map[int]float64{}
	for _, b := range base {
		byRound[b.round] = b.rps
	}
	var v []float64
	for _, r := range rs {
		if b := byRound[r.round]; b > 0 {
			v = append(v, r.rps/b)
		}
	}
	if len(v) == 0 {
		return 0, 0, 0, false
	}
	sort.Float64s(v)
	return mid(v), v[0], v[len(v)-1], true
}

// mid is the median of sorted v: with an even count, the mean of the two
// middle values (the upper one alone would lean every median up).
func mid(v []float64) float64 {
	n := len(v)
	if n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}

func ratio(v, base float64) string {
	if base <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v/base)
}

// median returns the run with the median throughput (latencies taken as
// the medians of their own).
func median(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return mid(v)
	}
	return result{
		rps:  pick(func(r result) float64 { return r.rps }),
		p50:  time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99:  time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
		max:  time.Duration(pick(func(r result) float64 { return float64(r.max) })),
		cpu:  time.Duration(pick(func(r result) float64 { return float64(r.cpu) })),
		note: rs[len(rs)/2].note,
	}
}

func ms(d time.Duration) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fms", float64(d)/1e6)
}

func runCmd(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func writeFile(dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		panic(err)
	}
	return p
}

// securityTable measures each security stage against the plain proxy:
// the same Rampart, the same backend and wrk, interleaved rounds.
func securityTable(env *env, path string, rounds int, dur, warm time.Duration) {
	type row struct {
		name    string
		url     string
		headers []string
	}
	base := env.rampart.plain
	rows := []row{
		{"plain proxy", base + path, nil},
		{"jwt ES256", base + "/jwt" + path, []string{"Authorization: Bearer " + env.sec.es256}},
		{"jwt RS256", base + "/jwt" + path, []string{"Authorization: Bearer " + env.sec.rs256}},
		{"api_key", base + "/key" + path, []string{"X-API-Key: " + env.sec.apiKey}},
		// JWT (ES256) + scope + role + a CEL condition on a path parameter.
		{"authorize", base + "/authz/acme" + path, []string{"Authorization: Bearer " + env.sec.es256}},
		// A per-IP limit high enough never to refuse: the cost of the check.
		{"ratelimit-memory", base + "/rl" + path, nil},
		// A block rule on a million-entry feed that does not list the client.
		{"threat feed, 1M entries", base + "/feed" + path, nil},
	}
	if env.rampartRedis != "" {
		// The same limit in Redis, through a second Rampart process.
		rows = append(rows, row{"ratelimit-redis", env.rampartRedis + "/rl" + path, nil})
	}
	names := make([]string, len(rows))
	for i, rw := range rows {
		names[i] = rw.name
	}
	all := interleave("security", names, rounds, warm, func(i int, d time.Duration) (result, error) {
		return wrk(rows[i].url, cmp.Or(d, dur), 50, "", rows[i].headers...)
	})
	fmt.Printf("\nSecurity stages through Rampart, GET small, keep-alive, wrk, %d rounds of %v, medians (verified tokens are cached by hash):\n\n", rounds, dur)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\tratio to plain proxy\tper round: median (lowest-highest)\t")
	plain := median(all["plain proxy"]).rps
	for _, rw := range rows {
		m := median(all[rw.name])
		perRound := "-"
		if med, lo, hi, ok := roundRatios(all[rw.name], all["plain proxy"]); ok && rw.name != "plain proxy" {
			perRound = fmt.Sprintf("%.2f (%.2f-%.2f)", med, lo, hi)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t\n", rw.name, m.rps, ms(m.p50), ms(m.p99), ratio(m.rps, plain), perRound)
	}
	tw.Flush()
	if med, lo, hi, ok := roundRatios(all["threat feed, 1M entries"], all["plain proxy"]); ok {
		fmt.Printf("\nthreat feed of 1M entries: costs %.1f%% of plain-proxy throughput per round, median (%.1f%% to %.1f%%; target at most 5%%)\n",
			100*(1-med), 100*(1-hi), 100*(1-lo))
	}
	if jwt := median(all["jwt ES256"]).rps; jwt > 0 {
		fmt.Printf("\nauthorize on top of jwt ES256 (same token): %.2f of its throughput\n", median(all["authorize"]).rps/jwt)
	}
	fmt.Fprintln(os.Stderr, "done: security")
}

// rateLimitLatency measures, at a fixed rate, the p99 a limit adds to the
// plain route: in memory, and in Redis.
func rateLimitLatency(env *env, path string, rate, rounds int, dur, warm time.Duration) {
	rows := []struct{ name, url string }{
		{"plain proxy", env.rampart.plain + path},
		{"ratelimit-memory", env.rampart.plain + "/rl" + path},
		{"ratelimit-redis", env.rampartRedis + "/rl" + path},
	}
	all := map[string][]result{}
	for _, rw := range rows {
		if warm > 0 {
			_, _ = vegeta(env.tools, rw.url, rate, warm)
		}
	}
	for r := 0; r < rounds; r++ {
		for _, rw := range rows {
			res, err := vegeta(env.tools, rw.url, rate, dur)
			if err != nil {
				fmt.Fprintf(os.Stderr, "ratelimit latency / %s: %v\n", rw.name, err)
				continue
			}
			all[rw.name] = append(all[rw.name], res)
		}
	}
	fmt.Printf("\nRate-limit latency at a fixed %d req/s, vegeta, %d rounds of %v, medians:\n\n", rate, rounds, dur)
	names := make([]string, len(rows))
	for i, rw := range rows {
		names[i] = rw.name
	}
	addedLatency(names, all)
}

// throughputTable prints each named row's medians with its ratio to the
// "direct" and "plain proxy" rows.
func throughputTable(names []string, all map[string][]result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\tratio to direct\tratio to plain proxy\t")
	direct, plain := median(all["direct"]).rps, median(all["plain proxy"]).rps
	for _, name := range names {
		m := median(all[name])
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t\n", name, m.rps, ms(m.p50), ms(m.p99), ratio(m.rps, direct), ratio(m.rps, plain))
	}
	tw.Flush()
}

// addedLatency prints a fixed-rate table: each scenario's median p50 and
// p99, and the p99 it adds over the "plain proxy" row.
func addedLatency(names []string, all map[string][]result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tp50\tp99\tp99 added over plain proxy\tsuccess\t")
	base := median(all["plain proxy"])
	for _, name := range names {
		m := median(all[name])
		fmt.Fprintf(tw, "%s\t%s\t%s\t%+.2fms\t%s\t\n", name, ms(m.p50), ms(m.p99), float64(m.p99-base.p99)/1e6, m.note)
	}
	tw.Flush()
}
