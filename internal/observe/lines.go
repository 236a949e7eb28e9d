// Package observe holds what the gateway tells the outside: the security
// event bus and its sinks, the access log, and Prometheus metrics.
package observe

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LineWriter batches writes of whole lines and flushes them on an
// interval, so logging a request costs a copy into memory, not a system
// call. It is double-buffered: a flush swaps the buffer out under the lock
// and writes it outside, so a slow disk never holds up the requests that
// append lines. Only when maxPending bytes wait unwritten does Write block
// (back-pressure rather than unbounded memory or lost lines). Lines are
// never split. Close flushes what is left.
type LineWriter struct {
	mu      sync.Mutex // guards cur
	cur     []byte
	writeMu sync.Mutex // serialises writes to out; guards out, closer, spare
	spare   []byte
	out     io.Writer
	closer  io.Closer
	path    string // a file path, or "" for stdout/stderr
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
}

const (
	flushAt    = 64 << 10 // wake the flusher early past this
	maxPending = 8 << 20  // block writers past this
)

// OpenLines opens stdout, stderr or a file (appended, created 0600) as a
// LineWriter flushed every interval.
func OpenLines(path string, interval time.Duration) (*LineWriter, error) {
	switch path {
	case "stdout":
		return NewLineWriter(os.Stdout, nil, interval), nil
	case "stderr":
		return NewLineWriter(os.Stderr, nil, interval), nil
	}
	f, err := openLog(path)
	if err != nil {
		return nil, err
	}
	lw := NewLineWriter(f, f, interval)
	lw.path = path
	return lw, nil
}

func openLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	return f, nil
}

// Reopen flushes to the current file and switches to a newly opened one
// at the same path, for log rotation (SIGUSR1). Standard streams are left
// alone.
func (lw *LineWriter) Reopen() error {
	if lw.path == "" {
		return nil
	}
	f, err := openLog(lw.path)
	if err != nil {
		return err
	}
	lw.Flush()
	lw.writeMu.Lock()
	old := lw.closer
	lw.out, lw.closer = f, f
	lw.writeMu.Unlock()
	return old.Close()
}

// NewLineWriter wraps w; closer, if not nil, is closed by Close.
func NewLineWriter(w io.Writer, closer io.Closer, interval time.Duration) *LineWriter {
	lw := &LineWriter{out: w, closer: closer, cur: make([]byte, 0, flushAt), spare: make([]byte, 0, flushAt),
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	lw.wg.Add(1)
	go lw.loop(interval)
	return lw
}

func (lw *LineWriter) loop(interval time.Duration) {
	defer lw.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-lw.kick:
		case <-lw.done:
			return
		}
		lw.Flush()
	}
}

// Write appends one or more whole lines.
func (lw *LineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	lw.cur = append(lw.cur, p...)
	n := len(lw.cur)
	lw.mu.Unlock()
	switch {
	case n >= maxPending:
		lw.Flush() // the disk is far behind: wait for it
	case n >= flushAt:
		select {
		case lw.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Synchronous is lw for writers that need each Write on disk before it
// returns (the WAF's matched-rule log, which tools read right after a
// response): it appends, then flushes.
func (lw *LineWriter) Synchronous() io.Writer { return syncLines{lw} }

type syncLines struct{ lw *LineWriter }

func (s syncLines) Write(p []byte) (int, error) {
	n, err := s.lw.Write(p)
	s.lw.Flush()
	return n, err
}

// Flush writes buffered lines out.
func (lw *LineWriter) Flush() {
	lw.writeMu.Lock()
	defer lw.writeMu.Unlock()
	lw.mu.Lock()
	lw.cur, lw.spare = lw.spare[:0], lw.cur
	lw.mu.Unlock()
	if len(lw.spare) > 0 {
		_, _ = lw.out.Write(lw.spare)
	}
	if cap(lw.spare) > 4*flushAt {
		lw.spare = make([]byte, 0, flushAt) // give back a burst's memory
	}
}

// Close stops the flusher, flushes, and closes the file if any.
func (lw *LineWriter) Close() error {
	close(lw.done)
	lw.wg.Wait()
	lw.Flush()
	lw.writeMu.Lock()
	defer lw.writeMu.Unlock()
	if lw.closer != nil {
		return lw.closer.Close()
	}
	return nil
}

// OpenRotating opens a file as a LineWriter that rotates it by size:
// past maxBytes the file is renamed PATH.1 (PATH.1 to PATH.2 and so on,
// keeping keep of them) and a new one started. Rotation happens between
// flushes, so lines are never split across files.
func OpenRotating(path string, maxBytes int64, keep int, interval time.Duration) (*LineWriter, error) {
	f, err := openLog(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	r := &rotatingFile{path: path, max: maxBytes, keep: max(keep, 1), f: f, size: st.Size()}
	return NewLineWriter(r, r, interval), nil
}

type rotatingFile struct {
	path string
	max  int64
	keep int
	f    *os.File
	size int64
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	if r.size > 0 && r.size+int64(len(p)) > r.max {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

func (r *rotatingFile) rotate() error {
	if err := r.f.Close(); err != nil {
		return err
	}
	_ = os.Remove(fmt.Sprintf("%s.%d", r.path, r.keep))
	for i := r.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", r.path, i), fmt.Sprintf("%s.%d", r.path, i+1))
	}
	if err := os.Rename(r.path, r.path+".1"); err != nil {
		return err
	}
	f, err := openLog(r.path)
	if err != nil {
		return err
	}
	r.f, r.size = f, 0
	return nil
}

func (r *rotatingFile) Close() error { return r.f.Close() }
