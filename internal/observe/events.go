package observe

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one security event (DESIGN.md §7): a refusal, throttle, ban or
// flag, emitted by the stage that decided it. It never holds secrets.
type Event struct {
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`             // request.refused, connection.refused, config.reloaded, ...
	Reason    string    `json:"reason,omitempty"` // not_found, body_too_large, ...
	Stage     string    `json:"stage,omitempty"`  // the request-path stage that decided
	Status    int       `json:"status,omitempty"`
	Rule      string    `json:"rule,omitempty"` // the limit or rule id behind the decision
	Detail    string    `json:"detail,omitempty"`
	Consumer  string    `json:"consumer,omitempty"`
	Authz     string    `json:"authz,omitempty"` // the authorization decision, once made
	ClientIP  string    `json:"client_ip,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Route     string    `json:"route,omitempty"`
	Method    string    `json:"method,omitempty"`
	Path      string    `json:"path,omitempty"`
	// Masked counts the values masked in a response by detector
	// (data.masked); never the values.
	Masked map[string]int `json:"masked,omitempty"`
}

// Sink receives events on its own goroutine. Write must not keep e.
type Sink interface {
	Name() string
	Write(e *Event) error
	Close() error
}

// Bus fans events out to sinks without ever blocking the request path:
// each sink has a bounded queue, and an event that does not fit is dropped
// and counted.
type Bus struct {
	red     *Redactor // applied to every event before any sink sees it
	subs    []*subscription
	wg      sync.WaitGroup
	mu      sync.RWMutex // Publish holds it shared; Close exclusively
	closed  bool
	onDrop  func(sink string)
	onError func(sink string, err error)
}

type subscription struct {
	sink    Sink
	ch      chan Event
	dropped atomic.Uint64
}

// QueueLen is each sink's queue capacity.
const QueueLen = 4096

// NewBus starts one goroutine per sink. onDrop and onError may be nil.
func NewBus(sinks []Sink, onDrop func(sink string), onError func(sink string, err error)) *Bus {
	b := &Bus{onDrop: onDrop, onError: onError}
	for _, s := range sinks {
		sub := &subscription{sink: s, ch: make(chan Event, QueueLen)}
		b.subs = append(b.subs, sub)
		b.wg.Add(1)
		go b.run(sub)
	}
	return b
}

func (b *Bus) run(sub *subscription) {
	defer b.wg.Done()
	for e := range sub.ch {
		if err := sub.sink.Write(&e); err != nil && b.onError != nil {
			b.onError(sub.sink.Name(), err)
		}
	}
}

// Redact makes the bus apply red to every event before it is queued, so
// no sink (log, SIEM, audit trail) sees what red masks. Call it before
// the first Publish.
func (b *Bus) Redact(red *Redactor) { b.red = red }

// Publish queues e for every sink and returns at once.
func (b *Bus) Publish(e Event) {
	if b == nil {
		return
	}
	b.red.Event(&e)
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	for _, sub := range b.subs {
		select {
		case sub.ch <- e:
		default:
			sub.dropped.Add(1)
			if b.onDrop != nil {
				b.onDrop(sub.sink.Name())
			}
		}
	}
}

// Close delivers queued events and closes the sinks. Publish after Close
// is a no-op.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	for _, s := range b.subs {
		close(s.ch)
	}
	b.mu.Unlock()
	b.wg.Wait()
	var first error
	for _, s := range b.subs {
		if err := s.sink.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// JSONLines writes one JSON object per event.
type JSONLines struct {
	name string
	w    *LineWriter
	enc  func(e *Event) ([]byte, error)
}

// NewJSONLines returns a sink writing events to w as they are.
func NewJSONLines(name string, w *LineWriter) *JSONLines {
	return &JSONLines{name: name, w: w, enc: func(e *Event) ([]byte, error) { return json.Marshal(e) }}
}

// NewJSONLinesEncoded returns a sink writing events to w as enc encodes
// them (one JSON document each: ECS, OCSF).
func NewJSONLinesEncoded(name string, w *LineWriter, enc func(e *Event) ([]byte, error)) *JSONLines {
	return &JSONLines{name: name, w: w, enc: enc}
}

// Name implements Sink.
func (j *JSONLines) Name() string { return j.name }

// Write implements Sink.
func (j *JSONLines) Write(e *Event) error {
	b, err := j.enc(e)
	if err != nil {
		return err
	}
	_, err = j.w.Write(append(b, '\n'))
	return err
}

// Close implements Sink.
func (j *JSONLines) Close() error { return j.w.Close() }
