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
	done   chan struct{}
	wg     sync.WaitGroup
}

// OpenLines opens stdout, stderr or a file (appended, created 0600) as a
// LineWriter flushed every interval.
func OpenLines(path string, interval time.Duration) (*LineWriter, error) {
	var w io.Writer
	var c io.Closer
	switch path {
	case "stdout":
		w = os.Stdout
	case "stderr":
		w = os.Stderr
	default:
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("open log %s: %w", path, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open log %s: %w", path, err)
		}
		w, c = f, f
	}
	return NewLineWriter(w, c, interval), nil
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
