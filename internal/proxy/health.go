package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/grpcwire"
)

// check probes one target every interval until ctx ends, marking it
// unhealthy after UnhealthyThreshold failures in a row and healthy again
// after HealthyThreshold successes, which also end a passive ejection.
func (p *Pool) check(ctx context.Context, t *Target, a *config.ActiveCheck) {
	defer p.wg.Done()
	client := &http.Client{Transport: p.transport.std, Timeout: a.Timeout.D(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	url := t.URL.String() + a.Path
	probe := probeHTTP
	if p.grpc {
		url = t.URL.String() + grpcwire.HealthCheckPath
		probe = probeGRPC(a.GRPCService)
	}
	ok, fail := 0, 0
	tick := time.NewTimer(0) // first probe at once
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, a.Timeout.D())
		healthy := probe(pctx, client, url, a.ExpectStatus)
		cancel()
		if healthy {
			ok, fail = ok+1, 0
		} else {
			ok, fail = 0, fail+1
		}
		switch {
		case !healthy && fail >= a.UnhealthyThreshold && t.healthy.Load():
			t.healthy.Store(false)
			p.log.Warn("upstream target unhealthy", "upstream", p.Name, "target", t.URL.Host, "failures", fail)
		case healthy && ok >= a.HealthyThreshold && !t.healthy.Load():
			t.healthy.Store(true)
			t.readmit()
			p.log.Info("upstream target healthy", "upstream", p.Name, "target", t.URL.Host)
		case healthy && ok >= a.HealthyThreshold && t.readmit():
			// Ejected by live traffic, and answering checks again: the
			// active check has the last word.
			p.log.Info("upstream target re-admitted: its health check passes", "upstream", p.Name, "target", t.URL.Host)
		}
		tick.Reset(a.Interval.D())
	}
}

// probeGRPC asks a gRPC server's health service about service: healthy
// when the call ends OK and the reply says SERVING.
func probeGRPC(service string) func(context.Context, *http.Client, string, []int) bool {
	return func(ctx context.Context, c *http.Client, url string, _ []int) bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(grpcwire.HealthRequest(service)))
		if err != nil {
			return false
		}
		req.Header["Content-Type"] = []string{grpcwire.ContentType}
		req.Header["Te"] = []string{"trailers"}
		req.Header["User-Agent"] = []string{"rampart-health-check"}
		if d, ok := ctx.Deadline(); ok {
			req.Header["Grpc-Timeout"] = []string{grpcwire.FormatTimeout(time.Until(d))}
		}
		res, err := c.Do(req)
		if err != nil {
			return false
		}
		defer res.Body.Close()
		body, err := io.ReadAll(io.LimitReader(res.Body, 1<<10))
		if err != nil || res.StatusCode != http.StatusOK || !grpcwire.IsGRPC(res.Header.Get("Content-Type")) {
			return false
		}
		status := res.Trailer.Get(grpcwire.HeaderStatus)
		if status == "" {
			status = res.Header.Get(grpcwire.HeaderStatus) // Trailers-Only
		}
		serving, err := grpcwire.HealthServing(body)
		return status == "0" && err == nil && serving
	}
}

func probeHTTP(ctx context.Context, c *http.Client, url string, expect []int) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "rampart-health-check")
	res, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if len(expect) > 0 {
		return slices.Contains(expect, res.StatusCode)
	}
	return res.StatusCode >= 200 && res.StatusCode < 400
}
