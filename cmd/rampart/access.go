package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-gw/rampart/internal/accessreview"
	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/store"
)

const accessUsage = `Usage:
  rampart access review [--format table|json|csv] [--unused-after 90d] [--lapse-within 24h]
                        [--revoke-unused] [-c rampart.yaml]

Every consumer of the config and the store with its roles, scopes, API
keys (age, last use) and just-in-time grants, flagged where access
deserves a second look: keys unused for --unused-after, roles never or no
longer exercised, grants ending within --lapse-within, disabled consumers
with keys. Last uses are those the gateways wrote to the store (each
minute). --revoke-unused revokes the unused keys, each recorded in the
audit trail. Exit 0, or 3 when there are findings (for CI and cron).
`

// cmdAccess runs access reviews.
func cmdAccess(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "review" {
		fmt.Fprint(stderr, accessUsage)
		return 2
	}
	fs := flag.NewFlagSet("access review", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	format := fs.String("format", "table", "table, json or csv")
	unused := fs.String("unused-after", "90d", "a key or role unused this long is flagged")
	lapse := fs.String("lapse-within", "24h", "a grant ending within this is flagged")
	revoke := fs.Bool("revoke-unused", false, "revoke the keys flagged unused (recorded in the audit trail)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	o := accessreview.Options{}
	var err error
	if o.UnusedAfter, err = config.ParseDuration(*unused); err != nil || o.UnusedAfter <= 0 {
		fmt.Fprintln(stderr, "rampart access review: --unused-after must be a duration such as 90d or 720h")
		return 2
	}
	if o.LapseWithin, err = config.ParseDuration(*lapse); err != nil {
		fmt.Fprintln(stderr, "rampart access review: --lapse-within must be a duration such as 24h")
		return 2
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		fmt.Fprintln(stderr, "rampart access review: --format is table, json or csv")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, d, ok := openStore(ctx, "access review", *path, stderr)
	if !ok {
		return 1
	}
	defer d.Close()
	rep, err := accessreview.Build(ctx, cfg, d, o)
	if err != nil {
		fmt.Fprintln(stderr, "rampart access review:", err)
		return 1
	}
	if *revoke {
		revoked, err := accessreview.RevokeUnused(ctx, d, rep, o, func(k store.Key, detail string) {
			cliTrail(ctx, cfg, d, "admin.key_revoked", k.ID, detail, stderr)
		})
		for _, id := range revoked {
			fmt.Fprintf(stderr, "revoked unused key %s\n", id)
		}
		if err != nil {
			fmt.Fprintln(stderr, "rampart access review:", err)
			return 1
		}
		if len(revoked) > 0 { // the report shows the keys as they are now
			if rep, err = accessreview.Build(ctx, cfg, d, o); err != nil {
				fmt.Fprintln(stderr, "rampart access review:", err)
				return 1
			}
		}
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	case "csv":
		_ = rep.WriteCSV(stdout)
	default:
		writeReviewTable(stdout, rep)
	}
	if rep.Findings > 0 {
		return 3
	}
	return 0
}

func writeReviewTable(w io.Writer, rep *accessreview.Report) {
	day := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Format(time.DateOnly)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tKIND\tNAME\tSTATE\tLAST USED\tUNTIL\tFLAGS")
	for _, c := range rep.Consumers {
		state := c.Source
		if c.Disabled {
			state += ", disabled"
		}
		fmt.Fprintf(tw, "%s\tconsumer\t\t%s\t\t\t%s\n", c.ID, state, strings.Join(c.Flags, " "))
		for _, r := range c.Roles {
			fmt.Fprintf(tw, "\trole\t%s\tvia %s\t%s\t\t%s\n", r.Name, r.Via, day(r.LastUsed), strings.Join(r.Flags, " "))
		}
		for _, k := range c.Keys {
			until := ""
			if !k.ExpiresAt.IsZero() {
				until = k.ExpiresAt.Format(time.DateOnly)
			}
			fmt.Fprintf(tw, "\tkey\t%s\t%s, %d days old\t%s\t%s\t%s\n", k.ID, k.State, k.AgeDays, day(k.LastUsed), until, strings.Join(k.Flags, " "))
		}
		for _, g := range c.Grants {
			fmt.Fprintf(tw, "\tgrant\t%s (%s)\tby %s\t\t%s\t%s\n", g.Role, g.ID, g.GrantedBy, g.ExpiresAt.Format(time.RFC3339), strings.Join(g.Flags, " "))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d findings (unused after %s, grants lapsing within %s)\n", rep.Findings, rep.UnusedAfter, rep.LapseWithin)
}
