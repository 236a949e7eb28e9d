package trail

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
)

// Sink is the trail's subscriber on the event bus: admin actions
// (admin.* events) and config changes (config.*) always, and security
// events at or above a severity, appended in batches (a store
// transaction per batch, not per event) on its own goroutine.
type Sink struct {
	w        *Writer
	min      int
	severity func(e *observe.Event) int
	every    time.Duration
	dropped  func(n int)

	mu      sync.Mutex
	pending []Entry
	done    chan struct{}
	wg      sync.WaitGroup
}

// NewSink returns the sink; severity grades events (siem.Severity);
// dropped (may be nil) counts entries lost when the store refused a batch.
func NewSink(w *Writer, minSeverity int, severity func(e *observe.Event) int, dropped func(n int)) *Sink {
	if dropped == nil {
		dropped = func(int) {}
	}
	s := &Sink{w: w, min: minSeverity, severity: severity, every: w.o.CheckpointInterval, dropped: dropped, done: make(chan struct{})}
	s.wg.Add(1)
	go s.loop()
	return s
}

// Name implements observe.Sink.
func (s *Sink) Name() string { return "trail" }

// Write implements observe.Sink.
func (s *Sink) Write(e *observe.Event) error {
	if strings.HasPrefix(e.Type, "trail.") {
		return nil // its own checkpoints, published for SIEMs
	}
	entry := Entry{Time: e.Time, Action: e.Type, Detail: e.Detail}
	switch {
	case strings.HasPrefix(e.Type, "admin."):
		entry.Kind, entry.Actor, entry.Subject = KindAction, "admin-api", e.Rule
		if e.Stage == "dashboard" {
			entry.Actor = "dashboard"
		}
	case strings.HasPrefix(e.Type, "consumer."): // a consumer's own change through the portal
		entry.Kind, entry.Actor, entry.Subject = KindAction, "portal", e.Rule
	case strings.HasPrefix(e.Type, "config."):
		entry.Kind, entry.Actor = KindAction, "gateway"
	case s.severity(e) >= s.min:
		entry.Kind, entry.Actor = KindEvent, "gateway"
	default:
		return nil
	}
	ev := *e
	entry.Event = &ev
	s.mu.Lock()
	s.pending = append(s.pending, entry)
	full := len(s.pending) >= 100
	s.mu.Unlock()
	if full {
		return s.flush()
	}
	return nil
}

func (s *Sink) flush() error {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.w.Append(ctx, batch...)
	if err != nil && !errors.Is(err, ErrUnsigned) {
		s.dropped(len(batch))
	}
	return err
}

func (s *Sink) loop() {
	defer s.wg.Done()
	flush := time.NewTicker(200 * time.Millisecond)
	defer flush.Stop()
	checkpoint := time.NewTicker(s.every)
	defer checkpoint.Stop()
	for {
		select {
		case <-flush.C:
			_ = s.flush()
		case <-checkpoint.C:
			_ = s.flush()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = s.w.Checkpoint(ctx)
			cancel()
		case <-s.done:
			return
		}
	}
}

// Close implements observe.Sink: what is pending is appended and signed.
func (s *Sink) Close() error {
	close(s.done)
	s.wg.Wait()
	err := s.flush()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := s.w.Checkpoint(ctx); err == nil {
		err = cerr
	}
	return err
}
