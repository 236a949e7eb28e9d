// Package observe holds what the gateway tells the outside: the security
// event bus and its sinks, the access log, and Prometheus metrics.
package observe

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LineWriter batches writes of whole lines and flushes them on an
// interval, so logging a request costs a buffer copy, not a syscall.
// Lines are never split. Close flushes what is left.
type LineWriter struct {
	mu     sync.Mutex
	buf    *bufio.Writer
	closer io.Closer
	path   string // a file path, or "" for stdout/stderr
	done   chan struct{}
	wg     sync.WaitGroup
}

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
	lw.mu.Lock()
	_ = lw.buf.Flush()
	old := lw.closer
	lw.buf.Reset(f)
	lw.closer = f
	lw.mu.Unlock()
	return old.Close()
}

// NewLineWriter wraps w; closer, if not nil, is closed by Close.
func NewLineWriter(w io.Writer, closer io.Closer, interval time.Duration) *LineWriter {
	lw := &LineWriter{buf: bufio.NewWriterSize(w, 64<<10), closer: closer, done: make(chan struct{})}
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
			lw.Flush()
		case <-lw.done:
			return
		}
	}
}

// Write appends one or more whole lines.
func (lw *LineWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.buf.Write(p)
}

// Flush writes buffered lines out.
func (lw *LineWriter) Flush() {
	lw.mu.Lock()
	_ = lw.buf.Flush()
	lw.mu.Unlock()
}

// Close stops the flusher, flushes, and closes the file if any.
func (lw *LineWriter) Close() error {
	close(lw.done)
	lw.wg.Wait()
	lw.Flush()
	if lw.closer != nil {
		return lw.closer.Close()
	}
	return nil
}
