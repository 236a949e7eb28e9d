package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/gateway"
)

// askAdmin sends one request to the running gateway's admin API, found
// from the config at path (admin.listen, admin.token) unless adminURL
// names it, and returns its answer; on failure it has told stderr why.
func askAdmin(path, adminURL, method, target, cmd string, stderr io.Writer) (*http.Response, []byte, bool) {
	cfg, err := gateway.Load(path, false)
	if err != nil {
		printConfigErrors(stderr, err)
		return nil, nil, false
	}
	base := adminURL
	if base == "" {
		base = "http://" + dialable(cfg.Admin.Listen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return nil, nil, false
	}
	if tok := cfg.Admin.Token.Value(); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "%s: the admin API at %s did not answer (%v); is the gateway running? Use --admin to point elsewhere.\n", cmd, base, err)
		return nil, nil, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp, body, true
}
