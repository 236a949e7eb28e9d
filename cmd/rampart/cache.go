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
  rampart cache purge [ROUTE] [-c rampart.yaml] [--admin URL]

Removes a route's cached responses (every route's without ROUTE) from
the running gateway, through its admin API (admin.listen and token from
the config).
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
	if err := fs.Parse(args); err != nil {
		return 2
	}
	target := "/cache"
	if route != "" {
		target += "/" + url.PathEscape(route)
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
	fmt.Fprintf(stdout, "purged %d cached keys of %s\n", out.Purged, what)
	return 0
}
