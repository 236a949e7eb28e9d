package threatintel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FormatCrowdSec is the format of a feed that follows a CrowdSec Local
// API's decisions stream.
const FormatCrowdSec = "crowdsec"

// CrowdSecResync is how often a CrowdSec feed asks for every active
// decision instead of the changes since its last pull: a change lost in
// between (a pull answered but not received) is mended within it.
const CrowdSecResync = time.Hour

// CrowdSec is a Local API followed as a bouncer
// (GET /v1/decisions/stream with the bouncer's X-Api-Key).
type CrowdSec struct {
	URL    string // the Local API's base URL
	APIKey string
	// Types are the decision types the feed lists (ban, captcha ...).
	Types []string
	// The stream's own filters; empty: none.
	Origins, ScenariosContaining, ScenariosNotContaining []string
}

// decisionID identifies a decision: the Local API's id, or its type,
// scope and value where it gives none.
type decisionID struct {
	id                int64
	typ, scope, value string
}

type activeDecision struct {
	prefix netip.Prefix
	until  time.Time
}

// crowdSecState is what a CrowdSec feed knows of the Local API's
// decisions between pulls.
type crowdSecState struct {
	active map[decisionID]activeDecision
	synced bool      // the last pull was applied: the next asks for changes only
	fullAt time.Time // the last pull of every decision
}

// lapiDecision is a decision as the stream gives it.
type lapiDecision struct {
	ID       int64  `json:"id"`
	Duration string `json:"duration"`
	Origin   string `json:"origin"`
	Scenario string `json:"scenario"`
	Scope    string `json:"scope"`
	Type     string `json:"type"`
	Value    string `json:"value"`
}

func (d *lapiDecision) key() decisionID {
	if d.ID != 0 {
		return decisionID{id: d.ID}
	}
	return decisionID{typ: d.Type, scope: strings.ToLower(d.Scope), value: d.Value}
}

// prefix is the decision's address or range; ok is false for another
// scope, a value that is not one, or a range of every address (which
// no decision should be, and which would refuse everyone).
func (d *lapiDecision) prefix() (netip.Prefix, bool) {
	switch strings.ToLower(d.Scope) {
	case "ip":
		a, err := netip.ParseAddr(d.Value)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	case "range":
		p, err := netip.ParsePrefix(d.Value)
		if err != nil || p.Bits() == 0 || (p.Addr().Is4In6() && p.Bits() <= 96) {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	return netip.Prefix{}, false
}

// pullDecisions asks the Local API for the decisions that changed since
// the last pull (every active one on the first pull, after a failure,
// and each CrowdSecResync), applies them, drops the expired ones, and
// builds the list anew when anything changed.
func (f *Feed) pullDecisions(ctx context.Context) (*Set, Result, error) {
	cs := f.src.CrowdSec
	f.pullMu.Lock()
	defer f.pullMu.Unlock()
	st := &f.crowdsec
	now := time.Now()
	full := !st.synced || now.Sub(st.fullAt) >= CrowdSecResync
	st.synced = false // until this pull is applied
	q := url.Values{"startup": {strconv.FormatBool(full)}, "scopes": {"ip,range"}}
	for k, v := range map[string][]string{"origins": cs.Origins, "scenarios_containing": cs.ScenariosContaining,
		"scenarios_not_containing": cs.ScenariosNotContaining} {
		if len(v) > 0 {
			q.Set(k, strings.Join(v, ","))
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cs.URL, "/")+"/v1/decisions/stream?"+q.Encode(), nil)
	if err != nil {
		return nil, Failed, err
	}
	req.Header.Set("X-Api-Key", cs.APIKey)
	req.Header.Set("User-Agent", "rampart-bouncer/v1")
	res, err := f.client.Do(req)
	if err != nil {
		return nil, Failed, fmt.Errorf("the Local API: %w", err)
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusForbidden || res.StatusCode == http.StatusUnauthorized:
		return nil, Failed, fmt.Errorf("the Local API refused the bouncer key (%s): check api_key against cscli bouncers list", res.Status)
	case res.StatusCode != http.StatusOK:
		return nil, Failed, fmt.Errorf("the Local API answered %s", res.Status)
	}
	lr := &io.LimitedReader{R: res.Body, N: f.src.MaxBytes + 1}
	var delta struct {
		New     []lapiDecision `json:"new"`
		Deleted []lapiDecision `json:"deleted"`
	}
	if err := json.NewDecoder(lr).Decode(&delta); err != nil {
		if lr.N <= 0 {
			return nil, Failed, fmt.Errorf("the decisions are over max_bytes (%d bytes)", f.src.MaxBytes)
		}
		return nil, Failed, fmt.Errorf("the Local API's answer is not a decisions stream: %v", err)
	}
	if full || st.active == nil {
		st.active = map[decisionID]activeDecision{}
	}
	skipped := 0
	for i := range delta.Deleted { // before the new: a value deleted and decided again stays
		delete(st.active, delta.Deleted[i].key())
	}
	for i := range delta.New {
		d := &delta.New[i]
		if !slices.Contains(cs.Types, d.Type) {
			continue
		}
		left, err := time.ParseDuration(d.Duration)
		if err != nil || left <= 0 {
			continue // expired on the way
		}
		p, ok := d.prefix()
		if !ok {
			skipped++
			continue
		}
		st.active[d.key()] = activeDecision{prefix: p, until: now.Add(left)}
	}
	expired := 0
	for k, d := range st.active {
		if !d.until.After(now) {
			delete(st.active, k)
			expired++
		}
	}
	if f.src.MaxEntries > 0 && len(st.active) > f.src.MaxEntries {
		return nil, Failed, fmt.Errorf("%w: the Local API has %d active decisions, over max_entries (%d)", ErrTooManyEntries, len(st.active), f.src.MaxEntries)
	}
	f.mu.Lock()
	f.status.Skipped += skipped
	f.mu.Unlock()
	st.synced = true
	if full {
		st.fullAt = now
	}
	if !full && len(delta.New)+len(delta.Deleted)+expired == 0 && f.set.Load() != nil {
		return nil, Unchanged, nil
	}
	var b builder
	for _, d := range st.active {
		b.addPrefix(d.prefix)
	}
	return b.build(), Updated, nil
}
