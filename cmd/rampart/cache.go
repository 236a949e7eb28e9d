package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const cacheUsage = `Usage:
  rampart cache purge [ROUTE] [--path /PREFIX [--exact]] [--tag TAG] [-c rampart.yaml] [--admin URL]

Removes a route's cached responses (every route's without ROUTE) from
the running gateway, through its admin API (admin.listen and token from
the config): all of them, or those to paths under --path (with --exact,
to that one path, every query of it), or those the upstream tagged
(Cache-Tag) with --tag.
`

// cmdCache purges the response cache through the admin API.
func cmdCache(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "purge" {
		fmt.Fprint(stderr, cacheUsage)
		return 2
	}
	args = args[1:]
	route := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		route, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("cache purge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	adminURL := fs.String("admin", "", "admin API base URL (default: from the config's admin.listen)")
	prefix := fs.String("path", "", "only responses to paths starting with this prefix")
	tag := fs.String("tag", "", "only responses the upstream tagged with this Cache-Tag")
	exact := fs.Bool("exact", false, "with --path: only responses to that path, not those under it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	target := "/cache"
	if route != "" {
		target += "/" + url.PathEscape(route)
	}
	q := url.Values{}
	if *prefix != "" {
		q.Set("path", *prefix)
	}
	if *tag != "" {
		q.Set("tag", *tag)
	}
	if *exact {
		if *prefix == "" {
			fmt.Fprintln(stderr, "rampart cache purge: --exact needs --path")
			return 2
		}
		q.Set("exact", "true")
	}
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	resp, body, ok := askAdmin(*path, *adminURL, http.MethodDelete, target, "rampart cache purge", stderr)
	if !ok {
		return 1
	}
	var out struct {
		Purged int
		Detail string
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "rampart cache purge: %s: %s\n", resp.Status, out.Detail)
		return 1
	}
	what := "every route"
	if route != "" {
		what = "route " + route
	}
	switch {
	case *exact:
		what += " to " + *prefix
	case *prefix != "":
		what += " under " + *prefix
	}
	if *tag != "" {
		what += " tagged " + *tag
	}
	fmt.Fprintf(stdout, "purged %d cached responses of %s\n", out.Purged, what)
	return 0
}
