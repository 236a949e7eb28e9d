package siem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
)

// HTTP flavours.
const (
	FlavorWebhook   = "webhook"    // a JSON array of events, Bearer token
	FlavorSplunkHEC = "splunk_hec" // Splunk HTTP Event Collector: concatenated {"event": ...}, Splunk token
)

// HTTPOptions configure an HTTP batch sink.
type HTTPOptions struct {
	Name, URL, Flavor, Token string
	Encoder                  Encoder
	BatchSize                int           // events per POST; default 100
	FlushInterval            time.Duration // a partial batch waits at most this; default 1s
	Timeout                  time.Duration // one POST; default 5s
	Retries                  int           // further tries of a failed POST; default 3
	Client                   *http.Client  // default: one with Timeout
	// Dropped is told how many events a batch held when it was given up
	// after its retries; may be nil.
	Dropped func(n int)
}

// HTTPBatch posts events in batches, retrying a failed POST with
// exponential backoff; a batch still failing after its retries is dropped
// and counted. Batches are built and sent on the bus's goroutine for the
// sink and a flusher of its own, never on the request path.
type HTTPBatch struct {
	o       HTTPOptions
	mu      sync.Mutex // guards pending
	pending [][]byte
	sendMu  sync.Mutex // one POST at a time, in order
	done    chan struct{}
	wg      sync.WaitGroup
}

// NewHTTPBatch returns the sink and starts its flusher.
func NewHTTPBatch(o HTTPOptions) *HTTPBatch {
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Dropped == nil {
		o.Dropped = func(int) {}
	}
	h := &HTTPBatch{o: o, done: make(chan struct{})}
	h.wg.Add(1)
	go h.loop()
	return h
}

// Name implements observe.Sink.
func (h *HTTPBatch) Name() string { return h.o.Name }

// Write implements observe.Sink: the event joins the batch, which is sent
// once full.
func (h *HTTPBatch) Write(e *observe.Event) error {
	doc, err := h.o.Encoder(e)
	if err != nil {
		return err
	}
	if h.o.Flavor == FlavorSplunkHEC {
		doc = fmt.Appendf(nil, `{"time":%s,"host":"rampart","source":"rampart","sourcetype":"rampart:security","event":%s}`,
			strconv.FormatFloat(float64(e.Time.UnixMilli())/1000, 'f', 3, 64), doc)
	}
	h.mu.Lock()
	h.pending = append(h.pending, doc)
	full := len(h.pending) >= h.o.BatchSize
	h.mu.Unlock()
	if full {
		return h.flush()
	}
	return nil
}

func (h *HTTPBatch) loop() {
	defer h.wg.Done()
	t := time.NewTicker(h.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = h.flush()
		case <-h.done:
			return
		}
	}
}

// flush sends what is pending as one POST.
func (h *HTTPBatch) flush() error {
	h.sendMu.Lock()
	defer h.sendMu.Unlock()
	h.mu.Lock()
	batch := h.pending
	h.pending = nil
	h.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	var body bytes.Buffer
	if h.o.Flavor == FlavorSplunkHEC {
		for _, d := range batch {
			body.Write(d)
			body.WriteByte('\n')
		}
	} else {
		body.WriteByte('[')
		for i, d := range batch {
			if i > 0 {
				body.WriteByte(',')
			}
			body.Write(d)
		}
		body.WriteByte(']')
	}
	var err error
	for try := 0; try <= h.o.Retries; try++ {
		if try > 0 {
			select {
			case <-time.After(time.Duration(100<<(try-1)) * time.Millisecond):
			case <-h.done:
				// closing: one last try, no more waiting
			}
		}
		if err = h.post(body.Bytes()); err == nil {
			return nil
		}
	}
	h.o.Dropped(len(batch))
	return fmt.Errorf("%d events dropped after %d tries: %w", len(batch), h.o.Retries+1, err)
}

func (h *HTTPBatch) post(body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), h.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.o.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rampart-events/1")
	switch {
	case h.o.Token == "":
	case h.o.Flavor == FlavorSplunkHEC:
		req.Header.Set("Authorization", "Splunk "+h.o.Token)
	default:
		req.Header.Set("Authorization", "Bearer "+h.o.Token)
	}
	res, err := h.o.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s answered %s", h.o.URL, res.Status)
	}
	return nil
}

// Close implements observe.Sink: the flusher stops and what is pending
// is sent.
func (h *HTTPBatch) Close() error {
	close(h.done)
	h.wg.Wait()
	return h.flush()
}
