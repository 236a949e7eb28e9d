package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-gw/rampart/internal/ratelimit"
)

const bansUsage = `Usage:
  rampart bans list [-c rampart.yaml] [--admin URL] [--json]
  rampart bans lift ID [-c rampart.yaml] [--admin URL]

Bans live in the running gateway (state driver memory) or in Redis
(state driver redis, shared by every node); both commands ask the
gateway's admin API, found from the config's admin.listen and token.
`

// cmdBans lists and lifts graduated-response bans through the admin API.
func cmdBans(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "lift") {
		fmt.Fprint(stderr, bansUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("bans "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	adminURL := fs.String("admin", "", "admin API base URL (default: from the config's admin.listen)")
	asJSON := fs.Bool("json", false, "print the list as JSON")
	var id string
	if sub == "lift" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if sub == "lift" && id == "" {
		if id = fs.Arg(0); id == "" {
			fmt.Fprint(stderr, "rampart bans lift needs the ban's id, as `rampart bans list` shows it\n\n"+bansUsage)
			return 2
		}
	}
	method, target := http.MethodGet, "/bans"
	if sub == "lift" {
		method, target = http.MethodDelete, target+"/"+url.PathEscape(id)
	}
	resp, body, ok := askAdmin(*path, *adminURL, method, target, "rampart bans", stderr)
	if !ok {
		return 1
	}
	switch {
	case resp.StatusCode == http.StatusNoContent:
		fmt.Fprintf(stdout, "lifted the ban of %s\n", id)
		return 0
	case resp.StatusCode != http.StatusOK:
		var p struct{ Detail string }
		_ = json.Unmarshal(body, &p)
		fmt.Fprintf(stderr, "rampart bans %s: %s: %s\n", sub, resp.Status, p.Detail)
		return 1
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return 0
	}
	var list struct{ Bans []ratelimit.Ban }
	if err := json.Unmarshal(body, &list); err != nil {
		fmt.Fprintf(stderr, "rampart bans list: unexpected answer: %v\n", err)
		return 1
	}
	if len(list.Bans) == 0 {
		fmt.Fprintln(stdout, "no bans")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPOLICY\tSUBJECT\tENDS IN\tBAN #")
	for _, b := range list.Bans {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", b.ID, b.Policy, b.Subject, time.Until(b.Until).Round(time.Second), b.Count)
	}
	_ = tw.Flush()
	return 0
}

// dialable turns a listen address into one to dial: an unspecified host
// (":9901", "0.0.0.0:9901") becomes loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}
