package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/rampart-gw/rampart/internal/config"
)

// A DriverKind is one store driver (store.driver): its settings and how
// it opens.
type DriverKind struct {
	// Settings returns its empty settings: its keys, their defaults and
	// rules (config.Settings).
	Settings func() config.Settings
	// Open opens the store cfg configures.
	Open func(ctx context.Context, cfg *config.Config) (Driver, error)
}

// Drivers is the registry of store drivers. Main makes it
// (BuiltinDrivers) and hands it to those that open stores; none of them
// switches on the driver.
type Drivers map[string]DriverKind

// BuiltinDrivers returns the drivers of this build: embedded (bbolt) and
// postgres (with its schema migrations applied on open).
func BuiltinDrivers() Drivers {
	return Drivers{
		"embedded": {
			Settings: func() config.Settings { return &EmbeddedSettings{} },
			Open: func(_ context.Context, cfg *config.Config) (Driver, error) {
				return OpenEmbedded(cfg.Path(cfg.Store.Settings.(*EmbeddedSettings).Path))
			},
		},
		"postgres": {
			Settings: func() config.Settings { return &PostgresSettings{} },
			Open: func(ctx context.Context, cfg *config.Config) (Driver, error) {
				return OpenPostgres(ctx, cfg.Store.Settings.(*PostgresSettings).DSN.Value())
			},
		},
	}
}

// Open opens the store cfg configures.
func (d Drivers) Open(ctx context.Context, cfg *config.Config) (Driver, error) {
	kind, ok := d[cfg.Store.Driver]
	if !ok {
		return nil, fmt.Errorf("store driver %s is not available in this build", cfg.Store.Driver)
	}
	return kind.Open(ctx, cfg)
}

// Names lists the registered drivers, sorted.
func (d Drivers) Names() []string { return slices.Sorted(maps.Keys(d)) }

// Settings are the drivers' settings, for loading a config
// (config.LoadOptions.Stores).
func (d Drivers) Settings() config.SettingsTypes {
	t := config.SettingsTypes{}
	for name, kind := range d {
		t[name] = kind.Settings
	}
	return t
}

// EmbeddedSettings are the keys of the embedded driver.
type EmbeddedSettings struct {
	Path string `yaml:"path" json:"path,omitempty" doc:"The database file, created when missing."`
}

// Defaults sets what the file left unset: nothing.
func (s *EmbeddedSettings) Defaults() {}

// Validate checks the settings.
func (s *EmbeddedSettings) Validate(at *config.Validation) {
	if s.Path == "" {
		at.Errorf("path", "the embedded store needs path: the database file")
	}
}

// PostgresSettings are the keys of the postgres driver.
type PostgresSettings struct {
	DSN *config.Secret `yaml:"dsn" json:"dsn,omitempty" doc:"The connection string, as env:NAME or file:PATH."`
}

// Defaults sets what the file left unset: nothing.
func (s *PostgresSettings) Defaults() {}

// Validate checks the settings.
func (s *PostgresSettings) Validate(at *config.Validation) {
	if s.DSN == nil {
		at.Errorf("", "the postgres store needs dsn: env:NAME or file:PATH holding the connection string")
	}
}
