package proxy

import (
	"net"
	"testing"
	"time"
)

// TestQuietCheck: a socket with nothing to read is quiet; one holding a
// byte the peer sent, or the peer's end of file, is not.
func TestQuietCheck(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	peers := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		peers <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer := <-peers
	q := newQuietCheck(c)
	if !q.quiet() {
		t.Fatal("an idle socket is not quiet")
	}
	_, _ = peer.Write([]byte("x"))
	waitUntil(t, func() bool { return !q.quiet() }, "a byte sent unasked")
	peer.Close()
	c2, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	go func() {
		c, _ := l.Accept()
		peers <- c
	}()
	(<-peers).Close()
	q2 := newQuietCheck(c2)
	waitUntil(t, func() bool { return !q2.quiet() }, "the peer's end of file")
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("never saw %s", what)
}

func BenchmarkQuietCheck(b *testing.B) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(time.Minute)
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	q := newQuietCheck(c)
	b.ReportAllocs()
	for b.Loop() {
		if !q.quiet() {
			b.Fatal("not quiet")
		}
	}
}
