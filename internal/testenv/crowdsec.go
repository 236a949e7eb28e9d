package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CrowdSec is a CrowdSec Local API of the test's own (crowdsec -no-cs
// -no-capi: no log agent, no Central API), on a free loopback port with
// a SQLite database in a temp dir, and its cscli.
type CrowdSec struct {
	URL  string
	bin  string // the directory holding crowdsec and cscli
	conf string
	t    testing.TB
}

// crowdsecBins is where make test unpacks Debian's crowdsec package when
// the system has none (its post-install script registers with the
// Central API, which a machine off the Internet cannot reach).
const crowdsecBins = ".tools/crowdsec/usr/bin"

// StartCrowdSec runs a Local API and stops it (by PID) when the test
// ends. It registers a machine for cscli, whose decisions go through the
// Local API as a user's would.
func StartCrowdSec(t testing.TB) *CrowdSec {
	t.Helper()
	bin := crowdsecDir()
	if bin == "" {
		t.Fatal("crowdsec not found: `make test` unpacks Debian's package into .tools/crowdsec (apt-get download crowdsec)")
	}
	dir := t.TempDir()
	port := freePort(t)
	c := &CrowdSec{URL: "http://127.0.0.1:" + strconv.Itoa(port), bin: bin, conf: filepath.Join(dir, "config.yaml"), t: t}
	files := map[string]string{
		"config.yaml": fmt.Sprintf(`common:
  daemonize: false
  log_media: stdout
  log_level: warning
  working_dir: %[1]s
config_paths:
  config_dir: %[1]s/
  data_dir: %[1]s/data/
  simulation_path: %[1]s/simulation.yaml
  hub_dir: %[1]s/hub/
  index_path: %[1]s/hub/.index.json
db_config:
  type: sqlite
  db_path: %[1]s/data/crowdsec.db
  use_wal: true
api:
  client:
    credentials_path: %[1]s/local_api_credentials.yaml
  server:
    listen_uri: 127.0.0.1:%[2]d
    profiles_path: %[1]s/profiles.yaml
    trusted_ips: [127.0.0.1, "::1"]
prometheus:
  enabled: false
`, dir, port),
		"simulation.yaml": "simulation: off\n",
		// CrowdSec's default profile: a 4h ban for an alert about an address.
		"profiles.yaml": `name: default_ip_remediation
filters:
 - Alert.Remediation == true && Alert.GetScope() == "Ip"
decisions:
 - type: ban
   duration: 4h
on_success: break
`,
	}
	for _, d := range []string{"data", "hub"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.Cscli("machines", "add", "cscli", "--password", randomHex(16), "-f", filepath.Join(dir, "local_api_credentials.yaml"), "--force")
	log := &lockedBuffer{}
	cmd := exec.Command(filepath.Join(bin, "crowdsec"), "-c", c.conf, "-no-cs", "-no-capi")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("crowdsec: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("crowdsec's log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(c.URL + "/v1/decisions/stream")
		if err == nil {
			res.Body.Close()
			break // 403 without a key: it answers
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CrowdSec Local API did not answer: %v\n%s", err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// crowdsecDir finds the directory of crowdsec and cscli: the system's,
// or the one make test unpacked, looked for from the working directory
// up.
func crowdsecDir() string {
	if p, err := exec.LookPath("crowdsec"); err == nil {
		if _, err := exec.LookPath("cscli"); err == nil {
			return filepath.Dir(p)
		}
	}
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, crowdsecBins, "crowdsec")); err == nil {
			return filepath.Join(dir, crowdsecBins)
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// Cscli runs cscli against the Local API's config and returns its
// output; a failure fails the test.
func (c *CrowdSec) Cscli(args ...string) string {
	c.t.Helper()
	out, err := exec.Command(filepath.Join(c.bin, "cscli"), append([]string{"-c", c.conf}, args...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("cscli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// AddBouncer registers a bouncer and returns its key.
func (c *CrowdSec) AddBouncer(name string) string {
	c.t.Helper()
	key := randomHex(16)
	c.Cscli("bouncers", "add", name, "--key", key)
	return key
}

// AddMachine registers a machine (a watcher) and returns its password.
func (c *CrowdSec) AddMachine(name string) string {
	c.t.Helper()
	pw := randomHex(16)
	c.Cscli("machines", "add", name, "--password", pw, "-f", os.DevNull, "--force")
	return pw
}

// Decide adds a decision through the Local API (cscli decisions add):
// scope is --ip or --range.
func (c *CrowdSec) Decide(scope, value, typ string, d time.Duration) {
	c.t.Helper()
	c.Cscli("decisions", "add", scope, value, "--type", typ, "--duration", d.String(), "--reason", "test")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
