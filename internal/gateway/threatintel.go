package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/bots"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/pki"
	"github.com/rampart-gw/rampart/internal/threatintel"
)

// acquireFeeds gives the snapshot the configured threat-intelligence
// feeds. A feed whose definition is unchanged carries over with its
// list and its refresh loop; a new one is loaded before the snapshot
// serves, the new ones in parallel. A file that cannot be read or
// parsed fails the build (it is the operator's own, and a reload keeps
// the serving config); a download that fails leaves the feed empty
// until a retry succeeds, with a threat_intel.feed_failed event: a
// publisher's outage must not stop the gateway.
func (g *Gateway) acquireFeeds(cfg *config.Config, s *Snapshot) (map[string]*threatintel.Feed, error) {
	feeds := map[string]*threatintel.Feed{}
	if cfg.ThreatIntel == nil {
		return feeds, nil
	}
	var fresh []*threatintel.Feed
	for _, name := range slices.Sorted(maps.Keys(cfg.ThreatIntel.Feeds)) {
		fc := cfg.ThreatIntel.Feeds[name]
		src, err := feedSource(cfg, name, fc)
		if err != nil {
			return nil, cfg.ErrorAt("threat_intel.feeds."+name, err)
		}
		headers := map[string][32]byte{}
		for h, v := range src.Header {
			headers[h] = sha256.Sum256([]byte(v))
		}
		if src.CrowdSec != nil { // a new bouncer key makes a new feed
			headers["X-Api-Key"] = sha256.Sum256([]byte(src.CrowdSec.APIKey))
		}
		var ca [32]byte
		if fc.CAFile != "" {
			ca = pki.Fingerprint(cfg.Path(fc.CAFile)) // a rotated CA bundle makes a new feed
		}
		k := keyOf("feed:"+name, struct {
			F   *config.ThreatFeed
			CA  [32]byte
			Hdr map[string][32]byte
		}{fc, ca, headers}, cfg.BaseDir)
		f, _ := g.res.feeds.acquire(k, func() (*threatintel.Feed, error) {
			f := threatintel.New(src, threatintel.Options{Notify: g.feedRefreshed})
			fresh = append(fresh, f)
			return f, nil
		})
		s.releases = append(s.releases, func() { g.res.feeds.release(k) })
		feeds[name] = f
	}
	errs := make([]error, len(fresh))
	var wg sync.WaitGroup
	for i, f := range fresh {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.ThreatIntel.Feeds[f.Name()].Timeout.D())
			defer cancel()
			if _, err := f.Refresh(ctx); err != nil && cfg.ThreatIntel.Feeds[f.Name()].File != "" {
				errs[i] = cfg.ErrorAt("threat_intel.feeds."+f.Name()+".file", err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, f := range fresh {
		f.Start()
	}
	return feeds, nil
}

// feedSource is a feed's settings (validated, defaults applied).
func feedSource(cfg *config.Config, name string, fc *config.ThreatFeed) (threatintel.Source, error) {
	src := threatintel.Source{Name: name, URL: fc.URL, Format: fc.Format, Refresh: fc.Refresh.D(), Timeout: fc.Timeout.D(),
		MaxBytes: int64(fc.MaxBytes), MaxEntries: fc.MaxEntries}
	if fc.File != "" {
		src.File = cfg.Path(fc.File)
	}
	for _, c := range fc.Exclude {
		p, err := config.ParsePrefix(c)
		if err != nil {
			return src, fmt.Errorf("exclude: %w", err)
		}
		src.Exclude = append(src.Exclude, p.Masked())
	}
	if fc.CAFile != "" {
		pool, err := pki.CertPool(cfg.Path(fc.CAFile))
		if err != nil {
			return src, fmt.Errorf("ca_file: %w", err)
		}
		src.TLS = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	if len(fc.Headers) > 0 {
		src.Header = map[string]string{}
		for h, v := range fc.Headers {
			src.Header[h] = v.Value()
		}
	}
	if cs := fc.CrowdSec; cs != nil {
		src.Format = threatintel.FormatCrowdSec
		src.CrowdSec = &threatintel.CrowdSec{URL: cs.URL, APIKey: cs.APIKey.Value(), Types: cs.DecisionTypes,
			Origins: cs.Origins, ScenariosContaining: cs.ScenariosContaining, ScenariosNotContaining: cs.ScenariosNotContaining}
	}
	return src, nil
}

// feedRefreshed records a refresh: metrics, and a failure as a log line
// and a threat_intel.feed_failed event (the protection is degraded to
// the last good list, or none).
func (g *Gateway) feedRefreshed(name string, res threatintel.Result, entries int, err error) {
	g.metrics.ThreatFeed(name, string(res), entries, time.Now())
	switch {
	case err != nil:
		g.log.Warn("threat-intelligence feed refresh failed; the previous list stays in use", "feed", name, "entries", entries, "error", err.Error())
		g.bus.Publish(observe.Event{Type: "threat_intel.feed_failed", Reason: "feed_failed", Stage: "threat_intel", Rule: name,
			Detail: fmt.Sprintf("The feed %s could not be refreshed: %v. The list in use (%d entries) stays until a refresh succeeds.", name, err, entries)})
	case res == threatintel.Updated:
		g.log.Info("threat-intelligence feed loaded", "feed", name, "entries", entries)
	}
}

// threatStage is a policy's threat_intel rules (stage 6).
func threatStage(cfg *config.Config, name string, pol *config.Policy, deps *stageDeps) *threatintel.Stage {
	st := &threatintel.Stage{Policy: name, Count: deps.metrics.ThreatIntel(name)}
	for _, r := range pol.ThreatIntel {
		rule := threatintel.Rule{Action: r.Action}
		for _, f := range r.Feeds {
			rule.Feeds = append(rule.Feeds, deps.feeds[f])
			rule.JA4 = append(rule.JA4, cfg.ThreatIntel.Feeds[f].Format == threatintel.FormatJA4)
		}
		st.Rules = append(st.Rules, rule)
		if r.Action == threatintel.Challenge && st.Challenge == nil {
			c := pol.Bots.Challenge
			st.Challenge = bots.NewChallenge([]byte(c.Secret.Value()), c.Difficulty, c.TTL.D(), deps.bots.Once)
		}
	}
	return st
}

// ThreatFeeds reports the serving config's feeds, by name.
func (g *Gateway) ThreatFeeds() []threatintel.Status {
	feeds := g.current.Load().feeds
	out := make([]threatintel.Status, 0, len(feeds))
	for _, name := range slices.Sorted(maps.Keys(feeds)) {
		out = append(out, feeds[name].Status())
	}
	return out
}

// RefreshThreatFeed refreshes a feed now; ok is false for a feed the
// serving config does not have.
func (g *Gateway) RefreshThreatFeed(ctx context.Context, name string) (st threatintel.Status, ok bool, err error) {
	f := g.current.Load().feeds[name]
	if f == nil {
		return st, false, nil
	}
	_, err = f.Refresh(ctx)
	return f.Status(), true, err
}
