// Package crs runs the OWASP CRS project's own regression tests (shipped
// in github.com/corazawaf/coraza-coreruleset/v4/tests) through a real
// Rampart process, with go-ftw as a library in log mode: each test's
// requests go to the gateway, and the rule ids it expects (or expects
// not to see) are looked up in the gateway's waf.log_file. It is its own
// module so that go-ftw's dependencies stay out of the gateway's build;
// `make crs-test` runs it.
//
// CRS_PARANOIA (default 1) sets the policy's paranoia level; tests of
// rules above that level are left out, since those rules do not run.
// CRS_MIN_PASS (a percentage) fails the run when the pass rate drops
// below it.
package crs

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/coreruleset/go-ftw/v2/config"
	"github.com/coreruleset/go-ftw/v2/output"
	"github.com/coreruleset/go-ftw/v2/runner"
	"github.com/coreruleset/go-ftw/v2/test"
	"github.com/rs/zerolog"
)

// marker is the rule go-ftw needs in log mode: it logs the X-CRS-Test
// header of the requests that delimit each test in the log, on a line
// that names the header (go-ftw looks for both).
const marker = `SecRule REQUEST_HEADERS:X-CRS-Test "@rx ^.*$" "id:10001,phase:1,pass,t:none,log,msg:'X-CRS-Test %{MATCHED_VAR}'"`

// crsTestSetup is the rest of the CRS project's own test configuration
// (its rule 900005 and its container's settings), run before the CRS as
// there (waf.rules_before): the limits the argument- and file-size tests
// (920360-920410) and the UTF-8 test (920250) are written against, and the CRS's default methods, which
// the method tests (911100) expect where the gateway would hand the CRS
// the route's (every API method, for a route that names none). With the
// WAF in detect mode, as there, a request the rules would block still
// reaches the rules after it and the upstream, so every rule a test
// expects runs.
const crsTestSetup = `SecAction "id:10002,phase:1,pass,nolog,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS'"`

func TestCRSRegression(t *testing.T) {
	paranoia := envInt("CRS_PARANOIA", 1)
	dir := t.TempDir()
	bin := filepath.Join(dir, "rampart")
	// CRS_TAGS=re2_cgo builds the gateway as `make build` does with libre2
	// installed: the WAF's @rx on RE2.
	tags := os.Getenv("CRS_TAGS")
	build := exec.Command("go", "build", "-tags", tags, "-o", bin, "./cmd/rampart")
	build.Dir = "../.." // the gateway's own module, with its own dependency versions
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build rampart: %v\n%s", err, out)
	}
	upstream := serveUpstream(t)
	listen := freePort(t)
	logFile := filepath.Join(dir, "waf.log")
	cfg := filepath.Join(dir, "rampart.yaml")
	// The gateway's own refusals in front of the WAF that a route or the
	// server can lift are lifted, so the rules see what the tests send:
	// bodies on GET and HEAD (920170, 920420, 942190...), header names
	// with underscores (X_Filename: 933110, 944140), ';' in paths
	// (921190). The rest of the gateway's checks stay on.
	write(t, cfg, fmt.Sprintf(`version: 1
server:
  listen: [%q]
  limits: {max_connections_per_ip: 1024}
  headers: {underscores: pass}
admin: {disabled: true}
upstreams:
  httpbin: {targets: [{url: "http://%s"}]}
policies:
  crs:
    authenticate: []
    waf:
      mode: detect
      inspect_responses: true
      paranoia: %d
      log_file: %s
      rules_before: |
        %s
      rules: |
        %s
routes:
  - {name: all, match: {paths: ["/**"]}, upstream: httpbin, policy: crs, allow_get_body: true, path_parameters: strip}
`, listen, upstream, paranoia, logFile, crsTestSetup, marker))
	gw := exec.Command(bin, "run", "-c", cfg)
	var gwOut strings.Builder
	gw.Stdout, gw.Stderr = io.Discard, &gwOut
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Process.Kill(); _ = gw.Wait() })
	if !waitPort(listen) {
		_ = gw.Process.Kill()
		_ = gw.Wait()
		t.Fatalf("gateway not listening on %s:\n%s", listen, gwOut.String())
	}

	levels := ruleLevels(t)
	var tests []*test.FTWTest
	var left int
	err := fs.WalkDir(crstests.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := fs.ReadFile(crstests.FS, path)
		if err != nil {
			return err
		}
		ft, err := test.GetTestFromYaml(b, path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if levels[ft.RuleId] > paranoia {
			left += len(ft.Tests)
			return nil
		}
		// go-ftw aborts the whole run when a retry_once test fails
		// twice; such a test is run once and counted like any other.
		for i := range ft.Tests {
			for j := range ft.Tests[i].Stages {
				ft.Tests[i].Stages[j].Output.RetryOnce = nil
			}
		}
		tests = append(tests, ft)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	host, port, _ := net.SplitHostPort(listen)
	p, _ := strconv.Atoi(port)
	// The tests whose request the gateway refuses before its WAF, with
	// what it answers: left out of the score, listed in the report.
	overrides, err := os.ReadFile("overrides.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ftwCfg, err := config.NewConfigFromString(fmt.Sprintf(`---
logfile: %s
logmarkerheadername: X-CRS-Test
maxmarkerretries: 50
testoverride:
  input:
    dest_addr: %s
    port: %d
  ignore:
%s
`, logFile, host, p, indent(string(overrides), "    ")))
	if err != nil {
		t.Fatal(err)
	}
	zerolog.SetGlobalLevel(zerolog.WarnLevel) // go-ftw traces every request otherwise
	rc := config.NewRunnerConfiguration(ftwCfg)
	rc.ConnectTimeout, rc.ReadTimeout = 3*time.Second, 10*time.Second
	rc.ShowOnlyFailed = true
	// CRS_INCLUDE=regexp runs only the tests whose id (942100-3) matches.
	if inc := os.Getenv("CRS_INCLUDE"); inc != "" {
		re, err := regexp.Compile(inc)
		if err != nil {
			t.Fatalf("CRS_INCLUDE: %v", err)
		}
		rc.Include = re
	}
	var report strings.Builder
	res, err := runner.Run(rc, tests, output.NewOutput("plain", &report))
	if err != nil {
		t.Fatal(err)
	}
	st := res.Stats
	counted := len(st.Success) + len(st.Failed)
	rate := 100 * float64(len(st.Success)) / float64(max(counted, 1))
	byFile := map[string]int{}
	for _, f := range st.Failed {
		id, _ := strconv.Atoi(strings.SplitN(f, "-", 2)[0])
		byFile[strconv.Itoa(id/1000)]++
	}
	var groups []string
	for g, n := range byFile {
		groups = append(groups, fmt.Sprintf("%s: %d", g, n))
	}
	sort.Strings(groups)
	var ignored []string
	for id, why := range ftwCfg.TestOverride.Ignore {
		for _, name := range st.Ignored {
			if id.MatchString(name) {
				ignored = append(ignored, name+": "+why)
			}
		}
	}
	sort.Strings(ignored)
	summary := fmt.Sprintf("CRS regression at paranoia %d through Rampart (build tags %q): %d of %d tests passed (%.1f%%); %d ignored, refused by the gateway before its WAF (test/crs/overrides.yaml); "+
		"%d of %d passed or refused by the gateway; %d skipped (by the tests themselves, or left out by CRS_INCLUDE); %d tests of rules above paranoia %d left out.\nFailures by rule file: %s\nFailed: %s\nIgnored:\n  %s",
		paranoia, tags, len(st.Success), counted, rate, len(st.Ignored), len(st.Success)+len(st.Ignored), counted+len(st.Ignored), len(st.Skipped), left, paranoia,
		strings.Join(groups, ", "), strings.Join(st.Failed, " "), strings.Join(ignored, "\n  "))
	t.Log(summary)
	if out := os.Getenv("CRS_REPORT"); out != "" {
		write(t, out, summary+"\n\n"+report.String())
	}
	if min := envInt("CRS_MIN_PASS", 0); rate < float64(min) {
		t.Errorf("pass rate %.1f%% is below CRS_MIN_PASS=%d%%", rate, min)
	}
}

// ruleLevels maps each CRS rule id to its paranoia level, from the
// rules' paranoia-level/N tags (rules without one run at every level).
func ruleLevels(t *testing.T) map[uint]int {
	t.Helper()
	idRe := regexp.MustCompile(`id:(\d+)`)
	plRe := regexp.MustCompile(`paranoia-level/(\d)`)
	levels := map[uint]int{}
	files, err := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("CRS rule files: %v", err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(coreruleset.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		// A rule's tags follow its id, before the next rule's id.
		text := string(b)
		ids := idRe.FindAllStringSubmatchIndex(text, -1)
		for i, m := range ids {
			end := len(text)
			if i+1 < len(ids) {
				end = ids[i+1][0]
			}
			pl := plRe.FindStringSubmatch(text[m[1]:end])
			if pl == nil {
				continue
			}
			n, _ := strconv.Atoi(text[m[2]:m[3]])
			l, _ := strconv.Atoi(pl[1])
			levels[uint(n)] = l
		}
	}
	return levels
}

// serveUpstream answers every request with 200 and a short body, as the
// httpbin the CRS test setup uses does for /status/200 and the like.
func serveUpstream(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/reflect" {
			reflect(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// reflect is the CRS test backend's (albedo's) /reflect: the response the
// test wants, from a JSON description, so the response rules have
// something to find.
func reflect(w http.ResponseWriter, r *http.Request) {
	var spec struct {
		Status      int               `json:"status"`
		Headers     map[string]string `json:"headers"`
		Body        string            `json:"body"`
		EncodedBody string            `json:"encodedBody"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&spec); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body := []byte(spec.Body)
	if spec.EncodedBody != "" {
		if b, err := base64.StdEncoding.DecodeString(spec.EncodedBody); err == nil {
			body = b
		}
	}
	for k, v := range spec.Headers {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", http.DetectContentType(body))
	}
	w.WriteHeader(cmp.Or(spec.Status, http.StatusOK))
	_, _ = w.Write(body)
}

// indent puts prefix before each line of s.
func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitPort(addr string) bool {
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func write(t *testing.T, path, s string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}
