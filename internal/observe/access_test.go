package observe

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAccessJSONIsValid(t *testing.T) {
	rec := &AccessRecord{Start: time.Now(), RequestID: "r1", ClientIP: "10.0.0.1", Method: "GET", Host: "h",
		Path: "/a\"b\\c\n<x>&\x01\xff\u2028", Query: "api_key=s3cret&page=2", Proto: "HTTP/1.1", Status: 200,
		Route: "r", Upstream: "u", UpstreamTarget: "127.0.0.1:1", UpstreamStatus: 200, Attempts: 1, UserAgent: "ua"}
	b := append(AppendAccessJSON(nil, rec, time.Now()), '}')
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if m["path"] != "/a\"b\\c\n<x>&\x01\ufffd\u2028" || m["status"] != float64(200) || m["msg"] != "request" {
		t.Errorf("decoded %v", m)
	}
	if strings.Contains(string(b), "s3cret") {
		t.Error("query secret logged")
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\t\x00", "\xff\xfe", "é\u2028<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encoded to invalid JSON %s", s, b)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		// encoding/json replaces each invalid byte; ToValidUTF8 runs of
		// them: compare after normalising both.
		if strings.ToValidUTF8(got, "\ufffd") != want && !strings.Contains(s, "\ufffd") {
			if strings.ReplaceAll(got, "\ufffd", "") != strings.ReplaceAll(want, "\ufffd", "") {
				t.Fatalf("round trip %q -> %q", s, got)
			}
		}
	})
}

func BenchmarkAccessLog(b *testing.B) {
	lw := NewLineWriter(discard{}, nil, time.Hour)
	defer lw.Close()
	a := NewAccessLog(lw, nil, nil)
	rec := &AccessRecord{Start: time.Now(), RequestID: "d4d16364b265dc6daf71c4d27df01515", ClientIP: "127.0.0.1", Method: "GET",
		Host: "api.example.com", Path: "/api/v1/items", Query: "page=2&sort=name&q=widget", Proto: "HTTP/1.1", Status: 200,
		BytesOut: 70, Route: "api", Upstream: "backend", UpstreamTarget: "127.0.0.1:9001", UpstreamStatus: 200, Attempts: 1, UserAgent: "wrk"}
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		a.Log(rec, h)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestLineWriterReopen(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/access.log"
	lw, err := OpenLines(path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	lw.Write([]byte("one\n"))
	if err := os.Rename(path, path+".1"); err != nil { // logrotate moves the file
		t.Fatal(err)
	}
	lw.Write([]byte("two\n"))
	if err := lw.Reopen(); err != nil {
		t.Fatal(err)
	}
	lw.Write([]byte("three\n"))
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, _ := os.ReadFile(path + ".1")
	current, _ := os.ReadFile(path)
	if string(rotated) != "one\ntwo\n" || string(current) != "three\n" {
		t.Errorf("rotated %q, current %q", rotated, current)
	}
}

// stallWriter blocks every write until released, and says when the
// first write has entered.
type stallWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	got     []byte
}

func (s *stallWriter) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	s.mu.Lock()
	s.got = append(s.got, p...)
	s.mu.Unlock()
	return len(p), nil
}

// TestLineWriterStalledDiskDoesNotBlockWriters: while a flush is stuck in
// a write to the disk, appending lines still completes (the stall lasts
// until every append has returned), and nothing is lost.
func TestLineWriterStalledDiskDoesNotBlockWriters(t *testing.T) {
	sw := &stallWriter{entered: make(chan struct{}), release: make(chan struct{})}
	lw := NewLineWriter(sw, nil, time.Millisecond)
	line := []byte(strings.Repeat("x", 99) + "\n")
	lw.Write(line)
	<-sw.entered // the flusher is now stuck in the disk write
	done := make(chan struct{})
	go func() {
		for range 5000 { // 500 KB: past flushAt, below maxPending
			lw.Write(line)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writes blocked behind the stalled disk")
	}
	close(sw.release)
	lw.Close()
	if n := len(sw.got); n != 5001*100 {
		t.Errorf("wrote %d bytes, want %d", n, 5001*100)
	}
}

// TestRotating: past max bytes the file is renamed .1 (.1 to .2 ...),
// keeping keep of them, and lines are never split across files.
func TestRotating(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	w, err := OpenRotating(path, 100, 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 59) + "\n") // 60 bytes
	for range 5 {
		_, _ = w.Write(line)
		w.Flush()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int64{"events.jsonl": 60, "events.jsonl.1": 60, "events.jsonl.2": 60} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() != size {
			t.Errorf("%s: %v %v", name, err, st)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "events.jsonl.3")); err == nil {
		t.Error("more files kept than asked")
	}
}
