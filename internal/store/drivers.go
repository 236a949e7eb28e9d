package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/rampart-gw/rampart/internal/config"
)

// Drivers is the registry of store drivers (store.driver): each opens
// the configured store. Main makes it (BuiltinDrivers) and hands it to
// those that open stores; none of them switches on the driver.
type Drivers map[string]func(ctx context.Context, cfg *config.Config) (Driver, error)

// BuiltinDrivers returns the drivers of this build: embedded (bbolt) and
// postgres (with its schema migrations applied on open).
func BuiltinDrivers() Drivers {
	return Drivers{
		"embedded": func(_ context.Context, cfg *config.Config) (Driver, error) {
			return OpenEmbedded(cfg.Path(cfg.Store.Path))
		},
		"postgres": func(ctx context.Context, cfg *config.Config) (Driver, error) {
			return OpenPostgres(ctx, cfg.Store.DSN.Value())
		},
	}
}

// Open opens the store cfg configures.
func (d Drivers) Open(ctx context.Context, cfg *config.Config) (Driver, error) {
	open, ok := d[cfg.Store.Driver]
	if !ok {
		return nil, fmt.Errorf("store driver %s is not available in this build", cfg.Store.Driver)
	}
	return open(ctx, cfg)
}

// Names lists the registered drivers, sorted.
func (d Drivers) Names() []string { return slices.Sorted(maps.Keys(d)) }
