package main

import (
	"context"
	"fmt"
	"io"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/gateway"
	"github.com/rampart-gw/rampart/internal/store"
)

// openStore loads the config at path and opens its store, for the
// commands that manage records in it (`rampart keys`, `rampart
// consumers`). Problems go to stderr; ok false means exit 1. The caller
// closes the driver.
func openStore(ctx context.Context, cmd, path string, stderr io.Writer) (cfg *config.Config, d store.Driver, ok bool) {
	cfg, err := gateway.Load(path, false)
	if err != nil {
		printConfigErrors(stderr, err)
		return nil, nil, false
	}
	if cfg.Store == nil {
		fmt.Fprintf(stderr, "%s has no store: add store: {driver: embedded, path: data/rampart.db}\n", path)
		return nil, nil, false
	}
	d, err = store.BuiltinDrivers().Open(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "rampart %s: %v\n", cmd, err)
		return nil, nil, false
	}
	return cfg, d, true
}
