package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPinLayout(t *testing.T) {
	tests := []struct {
		ncpu int
		want cpuLayout
		err  bool
	}{
		{1, cpuLayout{}, true},
		{2, cpuLayout{proxy: "0", load: "1", backend: "1", static: true}, false},
		{7, cpuLayout{proxy: "0", load: "1-6", backend: "1-6", static: true}, false},
		{8, cpuLayout{proxy: "0-1", load: "2-5", backend: "6-7"}, false},
		{12, cpuLayout{proxy: "0-1", load: "2-5", backend: "6-11"}, false},
		{16, cpuLayout{proxy: "0-1", proxy4: "0-3", load: "4-7", backend: "8-15"}, false},
		{64, cpuLayout{proxy: "0-1", proxy4: "0-3", load: "4-7", backend: "8-63"}, false},
	}
	for _, tt := range tests {
		got, err := pinLayout(tt.ncpu)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("pinLayout(%d) = %+v, %v; want %+v, error %v", tt.ncpu, got, err, tt.want, tt.err)
		}
		if err == nil {
			// No two kinds of process share a core, the 4-core proxies
			// aside, and a static backend, which may share the load
			// tool's: the proxies' cores are theirs alone.
			seen := map[string]string{}
			backend := "backend"
			if got.static {
				backend = "load"
			}
			for _, part := range []struct{ who, cpus string }{{"proxy", got.proxy4 + "," + got.proxy}, {"load", got.load}, {backend, got.backend}} {
				for _, c := range cpuSet(t, part.cpus) {
					if other, ok := seen[c]; ok && other != part.who {
						t.Errorf("pinLayout(%d): core %s is both %s's and %s's", tt.ncpu, c, other, part.who)
					}
					seen[c] = part.who
				}
			}
			if n := len(seen); n > tt.ncpu {
				t.Errorf("pinLayout(%d) uses %d cores", tt.ncpu, n)
			}
		}
	}
}

// cpuSet expands a taskset list (leading or trailing commas allowed).
func cpuSet(t *testing.T, list string) []string {
	t.Helper()
	var out []string
	for _, part := range strings.Split(strings.Trim(list, ","), ",") {
		n := cpuCount(part)
		if n == 0 {
			t.Fatalf("bad CPU list %q", part)
		}
		lo, _, _ := strings.Cut(part, "-")
		for i := range n {
			first, err := strconv.Atoi(lo)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strconv.Itoa(first+i))
		}
	}
	return out
}

func TestPinLayoutFlags(t *testing.T) {
	tests := []struct {
		name string
		set  cpuLayout
		ncpu int
		want cpuLayout
		err  bool
	}{
		{"defaults", cpuLayout{}, 16, cpuLayout{proxy: "0-1", proxy4: "0-3", load: "4-7", backend: "8-15"}, false},
		{"one flag over the defaults", cpuLayout{backend: "8-11"}, 16, cpuLayout{proxy: "0-1", proxy4: "0-3", load: "4-7", backend: "8-11"}, false},
		{"all flags on a small machine", cpuLayout{proxy: "0", load: "1", backend: "0-1"}, 2, cpuLayout{proxy: "0", load: "1", backend: "0-1"}, false},
		{"a small machine", cpuLayout{}, 2, cpuLayout{proxy: "0", load: "1", backend: "1", static: true}, false},
		{"some flags on a small machine", cpuLayout{load: "1", backend: "1"}, 4, cpuLayout{proxy: "0", load: "1", backend: "1", static: true}, false},
		{"a static backend asked for", cpuLayout{static: true}, 8, cpuLayout{proxy: "0-1", load: "2-5", backend: "6-7", static: true}, false},
		{"one core", cpuLayout{proxy: "0"}, 1, cpuLayout{}, true},
		{"a bad list", cpuLayout{proxy: "0-x", load: "1", backend: "0"}, 2, cpuLayout{}, true},
	}
	for _, tt := range tests {
		got, err := pinLayoutFlags(tt.set, tt.ncpu)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v, error %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

func TestCPUCount(t *testing.T) {
	for list, want := range map[string]int{"0": 1, "0-1": 2, "8-15": 8, "0-3,6,8-9": 7, "": 0, "3-1": 0, "a": 0, "1-": 0, "-1": 0} {
		if got := cpuCount(list); got != want {
			t.Errorf("cpuCount(%q) = %d, want %d", list, got, want)
		}
	}
}

func TestStatCPU(t *testing.T) {
	for _, tt := range []struct {
		stat string
		want time.Duration
		ok   bool
	}{
		{"4242 (nginx) S 1 4242 4242 0 -1 4194624 120 0 0 0 250 130 0 0 20 0 1 0 100 1000 10", 3800 * time.Millisecond, true},
		{"4243 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1", 100 * time.Millisecond, true},
		{"4244 (short) S 1 2 3", 0, false},
		{"no parenthesis", 0, false},
	} {
		got, ok := statCPU(tt.stat)
		if got != tt.want || ok != tt.ok {
			t.Errorf("statCPU(%q) = %v, %v; want %v, %v", tt.stat, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := procCPU(os.Getpid()); !ok && runtime.GOOS == "linux" {
		t.Error("procCPU of this process: /proc did not say")
	}
}
