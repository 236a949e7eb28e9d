package acme

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/store"
)

func TestStorage(t *testing.T) {
	d, err := store.OpenEmbedded(filepath.Join(t.TempDir(), "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := newStorage(d)
	if _, err := s.Load(ctx, "certificates/ca/localhost/localhost.crt"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key: %v", err)
	}
	for _, k := range []string{"certificates/ca/localhost/localhost.crt", "certificates/ca/localhost/localhost.key", "certificates/ca/other/other.crt", "acme/ca/users/ops/ops.json"} {
		if err := s.Store(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Load(ctx, "certificates/ca/localhost/localhost.key"); err != nil || string(v) != "certificates/ca/localhost/localhost.key" {
		t.Fatalf("Load = %q %v", v, err)
	}
	if !s.Exists(ctx, "certificates/ca") || !s.Exists(ctx, "certificates/ca/other/other.crt") || s.Exists(ctx, "certificates/c") {
		t.Error("Exists")
	}
	got, err := s.List(ctx, "certificates/ca", false)
	if want := []string{"certificates/ca/localhost", "certificates/ca/other"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v %v, want %v", got, err, want)
	}
	got, _ = s.List(ctx, "certificates", true)
	if len(got) != 3 || !slices.Contains(got, "certificates/ca/other/other.crt") {
		t.Errorf("List recursive = %v", got)
	}
	if ki, err := s.Stat(ctx, "certificates/ca/localhost/localhost.crt"); err != nil || !ki.IsTerminal || ki.Size == 0 || ki.Modified.IsZero() {
		t.Errorf("Stat = %+v %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "certificates/ca/localhost"); err != nil || ki.IsTerminal {
		t.Errorf("Stat of a directory = %+v %v", ki, err)
	}
	if err := s.Delete(ctx, "certificates/ca/localhost"); err != nil || s.Exists(ctx, "certificates/ca/localhost/localhost.crt") || !s.Exists(ctx, "certificates/ca/other") {
		t.Errorf("Delete of a directory: %v", err)
	}

	// Lock excludes another holder, even in this process, until Unlock
	if err := s.Lock(ctx, "issue_cert_localhost"); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if err := newStorage(d).Lock(short, "issue_cert_localhost"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second holder got the lock: %v", err)
	}
	if err := s.Unlock(ctx, "issue_cert_localhost"); err != nil {
		t.Fatal(err)
	}
	other := newStorage(d)
	if err := other.Lock(ctx, "issue_cert_localhost"); err != nil {
		t.Fatalf("after Unlock: %v", err)
	}
	_ = other.Unlock(ctx, "issue_cert_localhost")
}
