package testenv

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Rsyslog is a running rsyslogd of the test's own: a TCP input on a free
// loopback port, every message written as received to a file.
type Rsyslog struct {
	Addr string
	out  string
	cmd  *exec.Cmd
	log  *lockedBuffer
}

// rsyslogd is where Debian's package puts the daemon.
func rsyslogd() (string, bool) {
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p, true
	}
	_, err := os.Stat("/usr/sbin/rsyslogd")
	return "/usr/sbin/rsyslogd", err == nil
}

// StartRsyslog runs rsyslogd in the foreground with a config of the
// test's (no system inputs, no system logs touched), and stops it by PID
// when the test ends.
func StartRsyslog(t testing.TB) *Rsyslog {
	t.Helper()
	bin, ok := rsyslogd()
	if !ok {
		t.Fatalf("rsyslogd not found: `make test` installs it, or apt-get install -y rsyslog")
	}
	dir := t.TempDir()
	port := freePort(t)
	r := &Rsyslog{Addr: "127.0.0.1:" + strconv.Itoa(port), out: filepath.Join(dir, "messages"), log: &lockedBuffer{}}
	conf := filepath.Join(dir, "rsyslog.conf")
	// %rawmsg% is the message as it arrived (framing removed), so a test
	// sees the RFC 5424 header and the JSON as sent.
	writeTestFile(t, conf, `global(workDirectory="`+dir+`")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\n")
input(type="imtcp" address="127.0.0.1" port="`+strconv.Itoa(port)+`")
action(type="omfile" file="`+r.out+`" template="raw" flushOnTXEnd="on" asyncWriting="off")
`)
	r.cmd = exec.Command(bin, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("rsyslogd: %v", err)
	}
	t.Cleanup(r.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not listen on %s: %v\n%s", r.Addr, err, r.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Messages returns the messages received so far, one a line.
func (r *Rsyslog) Messages() []string {
	f, err := os.Open(r.out)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func (r *Rsyslog) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

func writeTestFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
