package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Grant is a just-in-time role: a consumer holds Role from CreatedAt to
// ExpiresAt, unless revoked before. Grants are never deleted, so the
// store keeps who was granted what, by whom and why.
type Grant struct {
	ID        string    `json:"id"`
	Consumer  string    `json:"consumer"`
	Role      string    `json:"role"`
	Reason    string    `json:"reason"`
	GrantedBy string    `json:"granted_by"` // who asked: the admin API caller or the CLI's user
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// State says whether the grant is in force at t: active, expired or
// revoked.
func (g *Grant) State(t time.Time) string {
	switch {
	case !g.RevokedAt.IsZero() && !t.Before(g.RevokedAt):
		return "revoked"
	case !t.Before(g.ExpiresAt):
		return "expired"
	}
	return "active"
}

// Limits of a grant.
const (
	MaxGrantFor    = 30 * 24 * time.Hour // just in time: days at most, never standing access
	MinGrantFor    = 5 * time.Second
	maxGrantReason = 500
)

// Grants creates and revokes grants on a driver.
type Grants struct {
	D   Driver
	Now func() time.Time
}

func (g Grants) now() time.Time {
	if g.Now != nil {
		return g.Now().UTC()
	}
	return time.Now().UTC()
}

// ErrGrantInvalid marks a grant request the store refuses.
var ErrGrantInvalid = errors.New("invalid grant")

// Create records a grant of role to consumer for d, with the reason and
// who asked. The caller checks that the role exists in the config.
func (g Grants) Create(ctx context.Context, consumer, role string, d time.Duration, reason, by string) (Grant, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case consumer == "" || role == "":
		return Grant{}, fmt.Errorf("%w: a grant needs a consumer and a role", ErrGrantInvalid)
	case d < MinGrantFor || d > MaxGrantFor:
		return Grant{}, fmt.Errorf("%w: a grant lasts from %s to %s, not %s", ErrGrantInvalid, MinGrantFor, MaxGrantFor, d)
	case reason == "":
		return Grant{}, fmt.Errorf("%w: a grant needs a reason (a ticket, an incident): it goes into the audit trail", ErrGrantInvalid)
	case len(reason) > maxGrantReason || strings.ContainsAny(reason, "\r\n\x00"):
		return Grant{}, fmt.Errorf("%w: the reason must be one line of at most %d characters", ErrGrantInvalid, maxGrantReason)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	now := g.now()
	gr := Grant{ID: "g_" + strings.ToLower(enc.EncodeToString(b)), Consumer: consumer, Role: role, Reason: reason, GrantedBy: by,
		CreatedAt: now, ExpiresAt: now.Add(d).Truncate(time.Second)}
	return gr, g.D.PutGrant(ctx, gr)
}

// Revoke ends a grant now. Revoking a grant no longer in force is
// ErrNotFound's sibling: it reports the state it is in.
func (g Grants) Revoke(ctx context.Context, id, by string) (Grant, error) {
	gr, err := g.D.GetGrant(ctx, id)
	if err != nil {
		return gr, err
	}
	now := g.now()
	if st := gr.State(now); st != "active" {
		return gr, fmt.Errorf("%w: grant %s is %s already", ErrGrantInvalid, id, st)
	}
	gr.RevokedAt, gr.RevokedBy = now, by
	return gr, g.D.PutGrant(ctx, gr)
}

// Active lists the grants in force at now, of one consumer or of all
// ("").
func (g Grants) Active(ctx context.Context, consumer string) ([]Grant, error) {
	all, err := g.D.ListGrants(ctx, consumer)
	if err != nil {
		return nil, err
	}
	now := g.now()
	return slices.DeleteFunc(all, func(gr Grant) bool { return gr.State(now) != "active" }), nil
}

// GrantInfo is a grant as listed: its record and its state.
type GrantInfo struct {
	Grant
	State string `json:"state"`
}

// Info returns the grant with its state at now.
func (g Grant) Info(now time.Time) GrantInfo { return GrantInfo{Grant: g, State: g.State(now)} }

// CreatedDetail says what a grant's creation did, for the audit trail.
func (g Grant) CreatedDetail() string {
	return fmt.Sprintf("Role %s was granted to consumer %s until %s, by %s: %s", g.Role, g.Consumer, g.ExpiresAt.Format(time.RFC3339), g.GrantedBy, g.Reason)
}

// RevokedDetail says what a grant's revocation did, for the audit trail.
func (g Grant) RevokedDetail() string {
	return fmt.Sprintf("The grant of role %s to consumer %s was revoked by %s before its expiry (%s).", g.Role, g.Consumer, g.RevokedBy, g.ExpiresAt.Format(time.RFC3339))
}

// ExpiredDetail says what a grant's expiry did, for the audit trail.
func (g Grant) ExpiredDetail() string {
	return fmt.Sprintf("The grant of role %s to consumer %s (%s, by %s) expired at %s.", g.Role, g.Consumer, g.Reason, g.GrantedBy, g.ExpiresAt.Format(time.RFC3339))
}
