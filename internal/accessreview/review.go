// Package accessreview builds the periodic access review the background
// articles ask for ("regular access reviews and revocation"): every
// consumer with its roles, scopes, API keys and just-in-time grants, and
// what deserves a second look: keys nobody has used for long, roles
// never exercised, grants about to lapse, disabled consumers whose keys
// still exist. `rampart access review`, the admin API and the security
// dashboard show the same report; RevokeUnused acts on it.
package accessreview

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/store"
)

// Defaults of the review's thresholds.
const (
	DefaultUnusedAfter = 90 * 24 * time.Hour
	DefaultLapseWithin = 24 * time.Hour
)

// The findings.
const (
	KeyUnused         = "key-unused"               // active, and not used for UnusedAfter (or never, and older than that)
	RoleNeverUsed     = "role-never-used"          // held, and never allowed a request
	RoleUnused        = "role-unused"              // held, and not exercised for UnusedAfter
	GrantLapsesSoon   = "grant-lapses-soon"        // a grant in force ending within LapseWithin
	DisabledWithKeys  = "disabled-with-keys"       // a disabled consumer still holding active keys
	UnknownConsumerID = "keys-of-unknown-consumer" // keys of a consumer neither the config nor the store defines
)

// Options are the review's thresholds.
type Options struct {
	Now         time.Time
	UnusedAfter time.Duration // default 90 days
	LapseWithin time.Duration // default 24h
}

// Report is one review.
type Report struct {
	GeneratedAt time.Time  `json:"generated_at"`
	UnusedAfter string     `json:"unused_after"`
	LapseWithin string     `json:"lapse_within"`
	Findings    int        `json:"findings"`
	Consumers   []Consumer `json:"consumers"`
}

// Consumer is one consumer's access.
type Consumer struct {
	ID       string   `json:"id"`
	Source   string   `json:"source"` // config, store, or none (known only from its keys or grants)
	Disabled bool     `json:"disabled,omitempty"`
	Scopes   []string `json:"scopes,omitempty"`
	Roles    []Role   `json:"roles"`
	Keys     []Key    `json:"keys"`
	Grants   []Grant  `json:"grants"`
	Flags    []string `json:"flags,omitempty"`
}

// Role is a role the consumer holds, by its record or by a grant.
type Role struct {
	Name     string    `json:"name"`
	Via      string    `json:"via"` // config, store, grant
	LastUsed time.Time `json:"last_used,omitzero"`
	Flags    []string  `json:"flags,omitempty"`
}

// Key is one API key (never its secret).
type Key struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	AgeDays   int       `json:"age_days"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Flags     []string  `json:"flags,omitempty"`
}

// Grant is a just-in-time grant in force.
type Grant struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
	GrantedBy string    `json:"granted_by"`
	Reason    string    `json:"reason"`
	Flags     []string  `json:"flags,omitempty"`
}

// Build reviews the config's and the store's consumers (d may be nil
// without a store: the config's consumers alone, nothing known of use).
func Build(ctx context.Context, cfg *config.Config, d store.Driver, o Options) (*Report, error) {
	o.UnusedAfter = cmp.Or(o.UnusedAfter, DefaultUnusedAfter)
	o.LapseWithin = cmp.Or(o.LapseWithin, DefaultLapseWithin)
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	rep := &Report{GeneratedAt: o.Now.UTC(), UnusedAfter: o.UnusedAfter.String(), LapseWithin: o.LapseWithin.String()}
	byID := map[string]*Consumer{}
	consumer := func(id string) *Consumer {
		if c := byID[id]; c != nil {
			return c
		}
		c := &Consumer{ID: id, Source: "none", Roles: []Role{}, Keys: []Key{}, Grants: []Grant{}}
		byID[id] = c
		return c
	}
	var (
		keys   []store.Key
		grants []store.Grant
		used   = map[string]time.Time{}
	)
	if d != nil {
		stored, err := d.ListConsumers(ctx)
		if err != nil {
			return nil, fmt.Errorf("list consumers: %w", err)
		}
		for _, sc := range stored {
			c := consumer(sc.ID)
			c.Source, c.Disabled, c.Scopes = "store", sc.Disabled, sc.Scopes
			c.Roles = roles(sc.Roles, "store")
		}
		if keys, err = d.ListKeys(ctx, ""); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		if grants, err = d.ListGrants(ctx, ""); err != nil {
			return nil, fmt.Errorf("list grants: %w", err)
		}
		usage, err := d.ListUsage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list usage: %w", err)
		}
		for _, u := range usage {
			used[u.Kind+" "+u.Subject] = u.At
		}
	}
	for _, cc := range cfg.Consumers { // on an id in both, the config wins, as on the request path
		if cc == nil {
			continue
		}
		c := consumer(cc.ID)
		c.Source, c.Disabled, c.Scopes = "config", cc.Disabled, cc.Scopes
		c.Roles = roles(cc.Roles, "config")
	}
	for _, k := range keys {
		c := consumer(k.Consumer)
		kr := Key{ID: k.ID, State: k.State(o.Now), CreatedAt: k.CreatedAt, AgeDays: int(o.Now.Sub(k.CreatedAt).Hours() / 24),
			ExpiresAt: k.ExpiresAt, LastUsed: used[store.UsageKey+" "+k.ID]}
		if kr.State == "active" && stale(kr.LastUsed, k.CreatedAt, o) {
			kr.Flags = append(kr.Flags, KeyUnused)
		}
		c.Keys = append(c.Keys, kr)
	}
	for _, g := range grants {
		if g.State(o.Now) != "active" {
			continue
		}
		c := consumer(g.Consumer)
		gr := Grant{ID: g.ID, Role: g.Role, ExpiresAt: g.ExpiresAt, GrantedBy: g.GrantedBy, Reason: g.Reason}
		if g.ExpiresAt.Sub(o.Now) <= o.LapseWithin {
			gr.Flags = append(gr.Flags, GrantLapsesSoon)
		}
		c.Grants = append(c.Grants, gr)
		if !slices.ContainsFunc(c.Roles, func(r Role) bool { return r.Name == g.Role }) {
			c.Roles = append(c.Roles, Role{Name: g.Role, Via: "grant"})
		}
	}
	for _, c := range byID {
		for i := range c.Roles {
			r := &c.Roles[i]
			r.LastUsed = used[store.UsageRole+" "+store.RoleSubject(c.ID, r.Name)]
			switch {
			case r.Via == "grant": // a grant is judged by its own expiry
			case r.LastUsed.IsZero():
				r.Flags = append(r.Flags, RoleNeverUsed)
			case o.Now.Sub(r.LastUsed) > o.UnusedAfter:
				r.Flags = append(r.Flags, RoleUnused)
			}
		}
		if c.Disabled && slices.ContainsFunc(c.Keys, func(k Key) bool { return k.State == "active" }) {
			c.Flags = append(c.Flags, DisabledWithKeys)
		}
		if c.Source == "none" && len(c.Keys) > 0 { // grants to an identity provider's subjects are normal
			c.Flags = append(c.Flags, UnknownConsumerID)
		}
		rep.Consumers = append(rep.Consumers, *c)
	}
	slices.SortFunc(rep.Consumers, func(a, b Consumer) int { return strings.Compare(a.ID, b.ID) })
	for _, c := range rep.Consumers {
		rep.Findings += len(c.Flags)
		for _, r := range c.Roles {
			rep.Findings += len(r.Flags)
		}
		for _, k := range c.Keys {
			rep.Findings += len(k.Flags)
		}
		for _, g := range c.Grants {
			rep.Findings += len(g.Flags)
		}
	}
	return rep, nil
}

// stale reports a credential not used for UnusedAfter: its last use, or
// its creation when it was never used, lies further back.
func stale(last, created time.Time, o Options) bool {
	since := last
	if since.IsZero() {
		since = created
	}
	return o.Now.Sub(since) > o.UnusedAfter
}

func roles(names []string, via string) []Role {
	out := make([]Role, 0, len(names))
	for _, n := range names {
		out = append(out, Role{Name: n, Via: via})
	}
	return out
}

// UnusedKeys lists the ids of the active keys the report flags unused.
func (r *Report) UnusedKeys() []string {
	var ids []string
	for _, c := range r.Consumers {
		for _, k := range c.Keys {
			if slices.Contains(k.Flags, KeyUnused) {
				ids = append(ids, k.ID)
			}
		}
	}
	return ids
}

// WriteCSV writes the report one row per item (a consumer's role, key or
// grant, or the consumer itself for its own findings), for a
// spreadsheet: consumer, kind, subject, state, created, last_used,
// expires, flags.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"consumer", "kind", "subject", "state", "created", "last_used", "expires", "flags"})
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, c := range r.Consumers {
		state := "enabled"
		if c.Disabled {
			state = "disabled"
		}
		_ = cw.Write([]string{c.ID, "consumer", c.Source, state, "", "", "", strings.Join(c.Flags, " ")})
		for _, rl := range c.Roles {
			_ = cw.Write([]string{c.ID, "role", rl.Name, "via " + rl.Via, "", ts(rl.LastUsed), "", strings.Join(rl.Flags, " ")})
		}
		for _, k := range c.Keys {
			_ = cw.Write([]string{c.ID, "key", k.ID, k.State, ts(k.CreatedAt), ts(k.LastUsed), ts(k.ExpiresAt), strings.Join(k.Flags, " ")})
		}
		for _, g := range c.Grants {
			_ = cw.Write([]string{c.ID, "grant", g.ID + " " + g.Role, "active", "", "", ts(g.ExpiresAt), strings.Join(g.Flags, " ")})
		}
	}
	cw.Flush()
	return cw.Error()
}

// RevokeUnused revokes the keys the report flags unused, each through
// record (which puts it in the audit trail); it returns those revoked.
// A key used or revoked since the report was built is left alone.
func RevokeUnused(ctx context.Context, d store.Driver, rep *Report, o Options, record func(k store.Key, detail string)) ([]string, error) {
	o.UnusedAfter = cmp.Or(o.UnusedAfter, DefaultUnusedAfter)
	usage, err := d.ListUsage(ctx)
	if err != nil {
		return nil, err
	}
	last := map[string]time.Time{}
	for _, u := range usage {
		if u.Kind == store.UsageKey {
			last[u.Subject] = u.At
		}
	}
	ks := &store.Keys{D: d}
	var revoked []string
	for _, id := range rep.UnusedKeys() {
		k, err := d.GetKey(ctx, id)
		if err != nil || k.State(time.Now()) != "active" || !stale(last[id], k.CreatedAt, Options{Now: time.Now(), UnusedAfter: o.UnusedAfter}) {
			continue
		}
		if k, err = ks.Revoke(ctx, id); err != nil {
			return revoked, err
		}
		since := "since it was created on " + k.CreatedAt.Format(time.DateOnly)
		if t := last[id]; !t.IsZero() {
			since = "since " + t.Format(time.DateOnly)
		}
		record(k, fmt.Sprintf("API key %s of consumer %s was revoked by the access review: unused %s (the limit is %s).", k.ID, k.Consumer, since, days(o.UnusedAfter)))
		revoked = append(revoked, id)
	}
	return revoked, nil
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
