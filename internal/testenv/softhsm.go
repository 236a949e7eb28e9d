package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SoftHSM is a SoftHSM2 token initialised for a test: its module, label
// and user PIN. Its config is in SOFTHSM2_CONF for the test's life, which
// the module and every child process (a gateway) read.
type SoftHSM struct {
	Module string
	Label  string
	Pin    string
	Conf   string // the SOFTHSM2_CONF file
}

// SoftHSMModules are where Debian and others install the module.
var SoftHSMModules = []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"}

// StartSoftHSM initialises a fresh token in a temp dir (make test
// installs softhsm2 when missing).
func StartSoftHSM(t testing.TB) *SoftHSM {
	t.Helper()
	module := ""
	for _, m := range SoftHSMModules {
		if _, err := os.Stat(m); err == nil {
			module = m
			break
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if module == "" || err != nil {
		t.Fatal("SoftHSM2 is not installed: apt-get install softhsm2 (make test does)")
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	h := &SoftHSM{Module: module, Label: "rampart-test", Pin: "4711-test-pin", Conf: conf}
	out, err := exec.Command(util, "--init-token", "--free", "--label", h.Label, "--so-pin", "so-4711", "--pin", h.Pin).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return h
}
