package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/miekg/pkcs11"
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

// ImportAESKey puts an AES key of known bytes into the token (C_CreateObject,
// sensitive and not extractable, as a key made in it would be), so that a
// test can check what the token encrypts against a software AES of the
// same key.
func (h *SoftHSM) ImportAESKey(t testing.TB, label string, id, key []byte) {
	t.Helper()
	p := pkcs11.New(h.Module)
	if p == nil {
		t.Fatalf("cannot load %s", h.Module)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Finalize() }()
	slots, err := p.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		info, err := p.GetTokenInfo(slot)
		if err != nil || info.Label != h.Label {
			continue
		}
		s, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.CloseSession(s) }()
		if err := p.Login(s, pkcs11.CKU_USER, h.Pin); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = p.Logout(s) }()
		_, err = p.CreateObject(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_ID, id), pkcs11.NewAttribute(pkcs11.CKA_VALUE, key),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false)})
		if err != nil {
			t.Fatalf("C_CreateObject: %v", err)
		}
		return
	}
	t.Fatalf("no token labelled %s", h.Label)
}
