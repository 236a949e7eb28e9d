package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a running redis-server of the test's own.
type Redis struct {
	Addr string
	port int
	dir  string
	cmd  *exec.Cmd
	log  *lockedBuffer
	t    testing.TB
}

// StartRedis runs redis-server on a free loopback port, without
// persistence, and stops it (by PID) when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found: `make test` installs it, or apt-get install -y redis-server")
	}
	r := &Redis{port: freePort(t), dir: t.TempDir(), t: t}
	r.Addr = "127.0.0.1:" + strconv.Itoa(r.port)
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts the server (again, after Stop) on the same port.
func (r *Redis) Start() {
	r.t.Helper()
	r.log = &lockedBuffer{}
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--protected-mode", "yes")
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not answer: %v\n%s", err, r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the server it started and waits for it.
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// String names the server for logs.
func (r *Redis) String() string { return fmt.Sprintf("redis-server on %s", r.Addr) }
