package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-gw/rampart/internal/store"
)

const consumersUsage = `Usage:
  rampart consumers put  --id ID [--roles a,b] [--scopes a,b] [--attr k=v]... [--disabled] [-c rampart.yaml]
  rampart consumers get  --id ID [-c rampart.yaml]
  rampart consumers list [-c rampart.yaml]

put creates or replaces the store's record of a consumer: its roles (which
the config must define), scopes and attributes. A consumer in the config
file wins over the store's record of the same id.
Gateways pick up changes within store.sync_interval (default 2s).
`

// attrFlags collects repeated --attr k=v.
type attrFlags map[string]string

func (a attrFlags) String() string { return fmt.Sprint(map[string]string(a)) }

func (a attrFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not name=value", s)
	}
	a[k] = v
	return nil
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// cmdConsumers manages consumer records in the configured store.
func cmdConsumers(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, consumersUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("consumers "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	id := fs.String("id", "", "consumer id")
	roles := fs.String("roles", "", "comma-separated roles")
	scopes := fs.String("scopes", "", "comma-separated scopes granted whatever the credential")
	disabled := fs.Bool("disabled", false, "refuse every credential of this consumer")
	attrs := attrFlags{}
	fs.Var(attrs, "attr", "an attribute, name=value; repeat for more")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, d, ok := openStore(ctx, "consumers", *path, stderr)
	if !ok {
		return 1
	}
	defer d.Close()
	switch sub {
	case "put":
		c := store.Consumer{ID: *id, Roles: splitList(*roles), Scopes: splitList(*scopes), Attributes: attrs, Disabled: *disabled}
		if len(c.Attributes) == 0 {
			c.Attributes = nil
		}
		if err := cfg.CheckConsumer(c.ID, c.Roles, c.Scopes, c.Attributes); err != nil {
			fmt.Fprintln(stderr, "rampart consumers put:", err)
			return 2
		}
		if old, err := d.GetConsumer(ctx, c.ID); err == nil {
			c.CreatedAt = old.CreatedAt
		} else {
			c.CreatedAt = time.Now().UTC()
		}
		if err := d.PutConsumer(ctx, c); err != nil {
			fmt.Fprintln(stderr, "rampart consumers put:", err)
			return 1
		}
		cliTrail(ctx, cfg, d, "admin.consumer_saved", c.ID, "A consumer record (roles, scopes, attributes) was saved.", stderr)
		fmt.Fprintf(stdout, "stored consumer %s (roles: %s)\n", c.ID, strings.Join(c.Roles, ", "))
	case "get":
		c, err := d.GetConsumer(ctx, *id)
		if err != nil {
			fmt.Fprintf(stderr, "rampart consumers get %s: %v\n", *id, err)
			return 1
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(c)
	case "list":
		list, err := d.ListConsumers(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "rampart consumers list:", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLES\tSCOPES\tATTRIBUTES\tDISABLED")
		for _, c := range list {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
				kv = append(kv, k+"="+c.Attributes[k])
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", c.ID, strings.Join(c.Roles, ","), strings.Join(c.Scopes, ","), strings.Join(kv, ","), c.Disabled)
		}
		_ = tw.Flush()
	default:
		fmt.Fprintf(stderr, "rampart consumers: unknown command %q\n\n%s", sub, consumersUsage)
		return 2
	}
	return 0
}
