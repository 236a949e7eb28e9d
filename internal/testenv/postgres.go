// Package testenv starts real servers for tests: a PostgreSQL cluster of
// its own in a temporary directory, on a free port, torn down when the
// test ends. Nothing here is mocked.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBin finds the directory of PostgreSQL's server binaries:
// initdb on PATH, or Debian's /usr/lib/postgresql/<version>/bin.
func PostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found: `make test` installs them, or apt-get install -y postgresql")
}

func pgVersion(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Postgres is a running server.
type Postgres struct {
	// DSN connects to a database of this test's own as a password user.
	DSN string
	cmd *exec.Cmd
	log *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// StartPostgres runs initdb and postgres in a fresh directory and waits
// until the server takes connections. PostgreSQL refuses to run as root,
// so under root the cluster belongs to the "postgres" user (which the
// Debian package creates) or else "nobody".
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, err := PostgresBin()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rampart-pg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred, err := serverUser()
	if err != nil {
		t.Fatal(err)
	}
	const password = "test-only-password"
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "rampart", "--pwfile", pwfile,
		"--auth", "scram-sha-256", "-E", "UTF8", "--no-sync", "--locale", "C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	pg := &Postgres{log: &lockedBuffer{}}
	pg.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=50")
	pg.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	pg.cmd.Dir = dir
	pg.cmd.Stdout, pg.cmd.Stderr = pg.log, pg.log
	if err := pg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = pg.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGINT is PostgreSQL's fast shutdown; kill by PID if it lingers.
		_ = pg.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = pg.cmd.Process.Kill()
			<-exited
		}
	})
	admin := fmt.Sprintf("postgres://rampart:%s@127.0.0.1:%d/postgres?sslmode=disable", password, port)
	deadline := time.Now().Add(30 * time.Second)
	var conn *pgx.Conn
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err = pgx.Connect(ctx, admin)
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("postgres exited: %s", pg.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres did not accept connections in 30s: %v\n%s", err, pg.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE rampart_test"); err != nil {
		t.Fatal(err)
	}
	pg.DSN = fmt.Sprintf("postgres://rampart:%s@127.0.0.1:%d/rampart_test?sslmode=disable", password, port)
	return pg
}

// Log is the server's output so far, for a failing test to show.
func (pg *Postgres) Log() string { return pg.log.String() }

// serverUser is the credential to run PostgreSQL under: nil when not root.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
