package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/store"
)

const grantsUsage = `Usage:
  rampart grants create --consumer ID --role ROLE --for 2h --reason "INC-4711: ..." [-c rampart.yaml]
  rampart grants list   [--consumer ID] [--all] [--json] [-c rampart.yaml]
  rampart grants revoke --id GRANT_ID [-c rampart.yaml]

A grant gives a consumer a role of the config for a while (5s to 720h),
for a reason that goes into the audit trail with the grant, its
revocation and its expiry. Gateways apply a new grant within
store.sync_interval (default 2s); it ends at its expiry on every node.
`

// cmdGrants manages just-in-time grants in the configured store.
func cmdGrants(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, grantsUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("grants "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	consumer := fs.String("consumer", "", "consumer id")
	role := fs.String("role", "", "a role the config defines")
	dur := fs.Duration("for", 0, "how long the grant lasts, e.g. 2h")
	reason := fs.String("reason", "", "why: a ticket or incident, recorded in the audit trail")
	id := fs.String("id", "", "grant id (g_...)")
	all := fs.Bool("all", false, "list expired and revoked grants too")
	asJSON := fs.Bool("json", false, "list as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, d, ok := openStore(ctx, "grants", *path, stderr)
	if !ok {
		return 1
	}
	defer d.Close()
	gs := store.Grants{D: d}
	by := cliActor()
	switch sub {
	case "create":
		if !config.ConsumerIDValid(*consumer) {
			fmt.Fprintln(stderr, "rampart grants create: --consumer must be 1-128 letters, digits, '.', '_', '-', '@' or ':'")
			return 2
		}
		if cfg.Roles[*role] == nil {
			fmt.Fprintf(stderr, "rampart grants create: --role %q is not a role of %s\n", *role, *path)
			return 2
		}
		g, err := gs.Create(ctx, *consumer, *role, *dur, *reason, by)
		if err != nil {
			fmt.Fprintln(stderr, "rampart grants create:", err)
			return 1
		}
		cliTrail(ctx, cfg, d, "admin.grant_created", g.ID, g.CreatedDetail(), stderr)
		fmt.Fprintln(stdout, g.ID)
		fmt.Fprintf(stderr, "granted %s to %s until %s\n", g.Role, g.Consumer, g.ExpiresAt.Format(time.RFC3339))
	case "revoke":
		g, err := gs.Revoke(ctx, *id, by)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				err = fmt.Errorf("no grant %q", *id)
			}
			fmt.Fprintln(stderr, "rampart grants revoke:", err)
			return 1
		}
		cliTrail(ctx, cfg, d, "admin.grant_revoked", g.ID, g.RevokedDetail(), stderr)
		fmt.Fprintf(stderr, "revoked grant %s (%s to %s)\n", g.ID, g.Role, g.Consumer)
	case "list":
		list, err := d.ListGrants(ctx, *consumer)
		if err != nil {
			fmt.Fprintln(stderr, "rampart grants list:", err)
			return 1
		}
		now := time.Now()
		out := make([]store.GrantInfo, 0, len(list))
		for _, g := range list {
			if *all || g.State(now) == "active" {
				out = append(out, g.Info(now))
			}
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(out)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCONSUMER\tROLE\tSTATE\tUNTIL\tBY\tREASON")
		for _, g := range out {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Consumer, g.Role, g.State, g.ExpiresAt.Format(time.RFC3339), g.GrantedBy, g.Reason)
		}
		tw.Flush()
	default:
		fmt.Fprint(stderr, grantsUsage)
		return 2
	}
	return 0
}

// cliActor names who runs the command, as the audit trail does.
func cliActor() string {
	user := os.Getenv("SUDO_USER")
	if user == "" {
		user = os.Getenv("USER")
	}
	return strings.TrimSuffix("cli:"+user, ":")
}
