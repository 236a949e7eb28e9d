package proxy

import (
	"context"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
)

// check probes one target every interval until ctx ends, marking it
// unhealthy after UnhealthyThreshold failures in a row and healthy again
// after HealthyThreshold successes, which also end a passive ejection.
func (p *Pool) check(ctx context.Context, t *Target, a *config.ActiveCheck) {
	defer p.wg.Done()
	client := &http.Client{Transport: p.transport.std, Timeout: a.Timeout.D(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	url := t.URL.String() + a.Path
	ok, fail := 0, 0
	tick := time.NewTimer(0) // first probe at once
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		healthy := probe(ctx, client, url, a.ExpectStatus)
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

func probe(ctx context.Context, c *http.Client, url string, expect []int) bool {
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
