package testenv

import (
	"sync"

	"github.com/rampart-gw/rampart/internal/observe"
)

// Events is an event sink that keeps what it is given, for tests that
// check what a stage published: observe.NewBus([]observe.Sink{ev}, nil,
// nil), then Got after the bus is closed.
type Events struct {
	mu  sync.Mutex
	got []observe.Event
}

// Name implements observe.Sink.
func (e *Events) Name() string { return "test" }

// Close implements observe.Sink.
func (e *Events) Close() error { return nil }

// Write implements observe.Sink.
func (e *Events) Write(ev *observe.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, *ev)
	return nil
}

// Got returns the events written so far.
func (e *Events) Got() []observe.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]observe.Event(nil), e.got...)
}
