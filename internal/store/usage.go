package store

import (
	"context"
	"time"
)

// Usage is when a credential or a privilege was last used: what access
// reviews read to find keys nobody uses and roles nobody exercises.
type Usage struct {
	Kind    string    `json:"kind"`    // UsageKey or UsageRole
	Subject string    `json:"subject"` // the key id; consumer and role for a role (RoleSubject)
	At      time.Time `json:"at"`
}

// The kinds of usage.
const (
	UsageKey  = "key"
	UsageRole = "role"
)

// RoleSubject is a role's usage subject: the consumer and the role.
func RoleSubject(consumer, role string) string { return consumer + " " + role }

// usageFlushInterval is how often a directory writes what it saw used.
// Usage is kept to the minute: a review asks about weeks.
const usageFlushInterval = time.Minute

// MarkRoleUsed records that consumer exercised role (it allowed a
// request) at t.
func (dir *Directory) MarkRoleUsed(consumer, role string, t time.Time) {
	mark(&dir.roles, RoleSubject(consumer, role), t)
}

// flushUsage writes the uses seen since the last flush. Usage is not a
// record change: it does not move the version the nodes poll.
func (dir *Directory) flushUsage(ctx context.Context) error {
	var batch []Usage
	for kind, m := range map[string]*usageMap{UsageKey: &dir.keysUsed, UsageRole: &dir.roles} {
		for subject, at := range m.changed() {
			batch = append(batch, Usage{Kind: kind, Subject: subject, At: time.Unix(at, 0).UTC()})
		}
	}
	if len(batch) == 0 {
		return nil
	}
	return dir.d.RecordUsage(ctx, batch)
}
