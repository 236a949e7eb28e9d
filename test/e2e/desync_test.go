package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"go.yaml.in/yaml/v3"
)

// desyncCase is one request of aws/http-desync-guardian's test suite
// (testdata/desync, see its NOTICE).
type desyncCase struct {
	Name    string `yaml:"name"`
	URI     string `yaml:"uri"`
	Method  string `yaml:"method"`
	Version string `yaml:"version"`
	Headers []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"headers"`
	Expected struct {
		Tier string `yaml:"tier"`
	} `yaml:"expected"`
}

// raw is the case as bytes on the wire, with a Host header first (the
// suite's requests have none, and an HTTP/1.1 request without one is
// refused before anything else is looked at) and the body its framing
// announces, when that is clear: Content-Length bytes, or an empty
// chunked body.
func (c *desyncCase) raw() string {
	var b strings.Builder
	b.WriteString(c.Method + " " + c.URI)
	if c.Version != "" {
		b.WriteString(" " + c.Version)
	}
	b.WriteString("\r\nHost: localhost\r\n")
	body := ""
	for _, h := range c.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
		switch strings.ToLower(h.Name) {
		case "content-length":
			if n, err := strconv.Atoi(strings.TrimSpace(h.Value)); err == nil && n >= 0 && n <= 64<<10 {
				body = strings.Repeat("a", n)
			}
		case "transfer-encoding":
			if strings.Contains(strings.ToLower(h.Value), "chunked") {
				body = "0\r\n\r\n"
			}
		}
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

func loadDesyncCases(t *testing.T) []desyncCase {
	t.Helper()
	files, err := filepath.Glob("testdata/desync/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no desync cases: %v", err)
	}
	var all []desyncCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []desyncCase
		if err := yaml.Unmarshal(b, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range cases {
			cases[i].Name = filepath.Base(f) + ": " + cases[i].Name
		}
		all = append(all, cases...)
	}
	return all
}

// TestDesyncGuardian replays the http-desync-guardian suite, each request
// on a new connection: no request the suite classes Severe or Ambiguous
// (whose length or meaning servers disagree on) may reach the upstream.
// Compliant and Acceptable requests are counted as they pass, and the
// share that did is logged.
func TestDesyncGuardian(t *testing.T) {
	cases := loadDesyncCases(t)
	var seen atomic.Int64
	up := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		seen.Add(1)
		fmt.Fprint(w, "ok")
	}))
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
  limits: {body_timeout: 2s}
admin: {listen: 127.0.0.1:0}
upstreams:
  app: {targets: [{url: "http://%s"}]}
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: app, policy: public}
`, up))
	passed := map[string]int{}
	total := map[string]int{}
	for _, c := range cases {
		before := seen.Load()
		status := sendRaw(t, g.http, c.raw())
		reached := seen.Load() > before
		total[c.Expected.Tier]++
		if reached {
			passed[c.Expected.Tier]++
		}
		switch c.Expected.Tier {
		case "Severe", "Ambiguous":
			if reached {
				t.Errorf("%s (%s) reached the upstream (gateway answered %d): %q", c.Name, c.Expected.Tier, status, c.raw())
			}
		default:
			if !reached {
				t.Logf("%s (%s) refused (%d): %q", c.Name, c.Expected.Tier, status, c.raw())
			}
		}
	}
	for _, tier := range []string{"Compliant", "Acceptable", "Ambiguous", "Severe"} {
		t.Logf("%s: %d of %d reached the upstream", tier, passed[tier], total[tier])
	}
	if total["Severe"]+total["Ambiguous"] < 100 {
		t.Errorf("only %d Severe and Ambiguous cases loaded", total["Severe"]+total["Ambiguous"])
	}
}

// sendRaw writes raw on a new connection and returns the status of the
// first response, or 0 when the gateway closed the connection or said
// nothing within 3s.
func sendRaw(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := writeRaw(t, addr, raw)
	if err != nil {
		return 0
	}
	defer c.Close()
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}
