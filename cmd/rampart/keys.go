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

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/store"
)

const keysUsage = `Usage:
  rampart keys create --consumer ID [--scopes a,b] [--expires-in 720h] [-c rampart.yaml]
  rampart keys list   [--consumer ID] [--json] [-c rampart.yaml]
  rampart keys revoke --id KEY_ID [-c rampart.yaml]
  rampart keys rotate --id KEY_ID [--overlap 24h] [-c rampart.yaml]

The key is printed once, by create and rotate, and cannot be shown again.
Gateways pick up changes within store.sync_interval (default 2s).
`

// cmdKeys manages API keys in the configured store.
func cmdKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	consumer := fs.String("consumer", "", "consumer id")
	id := fs.String("id", "", "key id (the part after rk_, before the second _)")
	scopes := fs.String("scopes", "", "comma-separated scopes the key grants")
	expiresIn := fs.Duration("expires-in", 0, "lifetime of the key; 0 for none")
	overlap := fs.Duration("overlap", 24*time.Hour, "how long the old key keeps working after rotate")
	asJSON := fs.Bool("json", false, "list as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, d, ok := openStore(ctx, "keys", *path, stderr)
	if !ok {
		return 1
	}
	defer d.Close()
	ks := &store.Keys{D: d, Hasher: store.NewHasher(cfg.Store.HashKey.Value())}
	now := time.Now()
	switch sub {
	case "create":
		if !config.ConsumerIDValid(*consumer) {
			fmt.Fprintln(stderr, "rampart keys create: --consumer must be 1-128 letters, digits, '.', '_', '-', '@' or ':'")
			return 2
		}
		var sc []string
		if *scopes != "" {
			sc = strings.Split(*scopes, ",")
		}
		plain, k, err := ks.Create(ctx, *consumer, store.CreateOptions{Scopes: sc, ExpiresIn: *expiresIn})
		if err != nil {
			fmt.Fprintln(stderr, "rampart keys create:", err)
			return 1
		}
		cliTrail(ctx, cfg, d, "admin.key_created", k.ID, "An API key was created for consumer "+k.Consumer+".", stderr)
		fmt.Fprintln(stdout, plain)
		fmt.Fprintf(stderr, "created key %s for consumer %s; it is shown once: store it now\n", k.ID, k.Consumer)
	case "list":
		list, err := d.ListKeys(ctx, *consumer)
		if err != nil {
			fmt.Fprintln(stderr, "rampart keys list:", err)
			return 1
		}
		if *asJSON {
			out := make([]store.KeyInfo, 0, len(list))
			for _, k := range list {
				out = append(out, k.Info(now))
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(out)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCONSUMER\tSTATE\tSCOPES\tCREATED\tEXPIRES")
		for _, k := range list {
			exp := "never"
			if !k.ExpiresAt.IsZero() {
				exp = k.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Consumer, k.State(now), strings.Join(k.Scopes, ","), k.CreatedAt.Format(time.RFC3339), exp)
		}
		_ = tw.Flush()
	case "revoke":
		k, err := ks.Revoke(ctx, *id)
		if err != nil {
			fmt.Fprintf(stderr, "rampart keys revoke %s: %v\n", *id, err)
			return 1
		}
		cliTrail(ctx, cfg, d, "admin.key_revoked", k.ID, "An API key of consumer "+k.Consumer+" was revoked.", stderr)
		fmt.Fprintf(stdout, "revoked key %s of consumer %s\n", k.ID, k.Consumer)
	case "rotate":
		plain, next, old, err := ks.Rotate(ctx, *id, *overlap)
		if err != nil {
			fmt.Fprintf(stderr, "rampart keys rotate %s: %v\n", *id, err)
			return 1
		}
		cliTrail(ctx, cfg, d, "admin.key_rotated", old.ID, "An API key of consumer "+old.Consumer+" was rotated; its replacement is "+next.ID+".", stderr)
		fmt.Fprintln(stdout, plain)
		fmt.Fprintf(stderr, "created key %s for consumer %s; key %s keeps working until %s\n", next.ID, next.Consumer, old.ID, old.ExpiresAt.Format(time.RFC3339))
	default:
		fmt.Fprintf(stderr, "rampart keys: unknown command %q\n\n%s", sub, keysUsage)
		return 2
	}
	return 0
}
