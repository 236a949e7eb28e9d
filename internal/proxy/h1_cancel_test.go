package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A whole round trip, the upstream hanging before its answer: cancelling
// the request ends it at once, with the context's error, and the
// connection is not pooled.
func TestH1CancelWhileAwaitingResponse(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	tr := newTestH1(0) // no header timeout: only the cancellation can end it
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/hang", nil)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.RoundTrip(req, &head{in: req.Header})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("RoundTrip after cancel: %v after %v", err, time.Since(start))
	}
	for _, list := range tr.idle {
		if len(list) != 0 {
			t.Fatal("a canceled connection was pooled")
		}
	}
}
