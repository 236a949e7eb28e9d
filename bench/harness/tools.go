package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkErrors  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)`)
	h2RPS      = regexp.MustCompile(`finished in [0-9.]+s, ([0-9.]+) req/s`)
	h2Failures = regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed`)
)

func parseDur(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return time.Duration(f * 1e3)
	case "ms":
		return time.Duration(f * 1e6)
	}
	return time.Duration(f * 1e9)
}

// wrk runs one closed-loop measurement with one thread (the load tool's
// own CPU is part of the result on a small machine).
func wrk(url string, d time.Duration, conns int, script string, headers ...string) (result, error) {
	return load{threads: 1}.wrk(url, d, conns, script, headers...)
}

// load is where the load tool runs: its threads, and the cores it is
// pinned to ("": wherever the scheduler puts it).
type load struct {
	threads int
	cpus    string
}

// command is name with args, run through taskset on l.cpus when set.
func (l load) command(name string, args ...string) *exec.Cmd {
	if l.cpus == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("taskset", append([]string{"-c", l.cpus, name}, args...)...)
}

// wrk runs one closed-loop measurement with l's threads and cores.
func (l load) wrk(url string, d time.Duration, conns int, script string, headers ...string) (result, error) {
	args := []string{fmt.Sprintf("-t%d", l.threads), fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency",
		"-H", "Accept: application/json", "-H", "User-Agent: rampart-bench/1", "-H", "X-Client-Version: 4.2"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	if script != "" {
		args = append(args, "-s", script)
	}
	cmd := l.command("wrk", append(args, url)...)
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("cannot parse wrk output:\n%s", out)
	}
	var r result
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		if p[1] == "50" {
			r.p50 = parseDur(p[2], p[3])
		} else {
			r.p99 = parseDur(p[2], p[3])
		}
	}
	if e := wrkErrors.FindString(out); e != "" {
		return r, fmt.Errorf("wrk reported errors (%s):\n%s", e, out)
	}
	return r, nil
}

// h2load measures h2 over TLS; it reports a mean, not percentiles.
func h2load(url string, d time.Duration, conns int) (result, error) {
	return runH2load("-c", strconv.Itoa(conns), "-m", "1", "-D", strconv.Itoa(int(d.Seconds())),
		"-H", "Accept: application/json", "-H", "User-Agent: rampart-bench/1", url)
}

// runH2load runs h2load with args and reads its throughput: an error for
// any failed request, or when it spoke no HTTP/2.
func runH2load(args ...string) (result, error) {
	out, err := runCmd("h2load", args...)
	if err != nil {
		return result{}, err
	}
	m := h2RPS.FindStringSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("cannot parse h2load output:\n%s", out)
	}
	var r result
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if f := h2Failures.FindStringSubmatch(out); f != nil && f[2] != "0" {
		return r, fmt.Errorf("h2load: %s failed requests", f[2])
	}
	if !strings.Contains(out, "h2") {
		return r, fmt.Errorf("h2load did not negotiate h2:\n%s", out)
	}
	return r, nil
}

// vegeta runs an open-loop fixed-rate attack with capped connections.
func vegeta(tools, url string, rate int, d time.Duration) (result, error) {
	return vegetaTargets(tools, "GET "+url+"\n", rate, d)
}

// vegetaTargets is vegeta with targets in its HTTP format.
func vegetaTargets(tools, targets string, rate int, d time.Duration) (result, error) {
	return load{}.vegeta(tools, targets, rate, d)
}

// vegeta is vegetaTargets on l's cores.
func (l load) vegeta(tools, targets string, rate int, d time.Duration) (result, error) {
	attack := l.command(filepath.Join(tools, "vegeta"), "attack", "-rate", strconv.Itoa(rate), "-duration", d.String(),
		"-max-connections", "64", "-max-workers", "64", "-header", "Accept: application/json", "-header", "User-Agent: rampart-bench/1")
	attack.Stdin = strings.NewReader(targets)
	report := l.command(filepath.Join(tools, "vegeta"), "report", "-type", "json")
	pipe, err := attack.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	report.Stdin = pipe
	attack.Stderr = os.Stderr
	if err := attack.Start(); err != nil {
		return result{}, err
	}
	out, err := report.Output()
	if werr := attack.Wait(); werr != nil {
		return result{}, werr
	}
	if err != nil {
		return result{}, err
	}
	var rep struct {
		Latencies struct {
			P50 int64 `json:"50th"`
			P99 int64 `json:"99th"`
			Max int64 `json:"max"`
		} `json:"latencies"`
		Throughput float64 `json:"throughput"`
		Success    float64 `json:"success"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return result{}, fmt.Errorf("vegeta report: %w: %s", err, out)
	}
	return result{rps: rep.Throughput, p50: time.Duration(rep.Latencies.P50), p99: time.Duration(rep.Latencies.P99), max: time.Duration(rep.Latencies.Max),
		note: fmt.Sprintf("%.2f%%", rep.Success*100)}, nil
}

// waitTimeWait waits (up to 60s) until fewer than limit sockets are in
// TIME_WAIT, so new-connection runs do not run out of ephemeral ports.
// With Connection: close the server closes first and holds the TIME_WAIT,
// which costs the client no port; the guard is for the extreme case.
func waitTimeWait(limit int) {
	for i := 0; i < 60; i++ {
		b, err := os.ReadFile("/proc/net/sockstat")
		if err != nil {
			return
		}
		f := strings.Fields(string(b))
		tw := 0
		for j := 0; j+1 < len(f); j++ {
			if f[j] == "tw" {
				tw, _ = strconv.Atoi(f[j+1])
			}
		}
		if tw < limit {
			return
		}
		time.Sleep(time.Second)
	}
}
