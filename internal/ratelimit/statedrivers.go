package ratelimit

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/rampart-gw/rampart/internal/cache"
	"github.com/rampart-gw/rampart/internal/config"
)

// TrafficState is what a state driver keeps for the traffic stages:
// rate-limit budgets, quota counts, offences and bans, spent challenge
// solutions.
type TrafficState struct {
	Limits Store
	Quotas QuotaCounter
	Abuse  Abuse
	Once   Once
	// Evidence is attack correlation's counts.
	Evidence Evidence
	// Responses is the response cache's level shared by every node; nil
	// when the driver keeps state per node.
	Responses cache.Shared
}

// StateOptions are what opening a state driver may use.
type StateOptions struct {
	State *config.State
	Log   *slog.Logger
	// Failures counts a failed call to a shared state.
	Failures func()
}

// A StateDriver is one state driver (state.driver): its settings and
// how it opens.
type StateDriver struct {
	// Settings returns its empty settings: its keys, their defaults and
	// rules (config.Settings).
	Settings func() config.Settings
	Open     func(o StateOptions) TrafficState
}

// StateDrivers is the registry of state drivers. Main makes it
// (BuiltinStateDrivers) and hands it to the gateway, which switches on no
// driver.
type StateDrivers map[string]StateDriver

// BuiltinStateDrivers returns the drivers of this build: memory (per
// node) and redis (shared by every node, with per-node memory standing
// in while it cannot be reached, as state.on_state_error says).
func BuiltinStateDrivers() StateDrivers {
	return StateDrivers{
		"memory": {
			Settings: func() config.Settings { return &MemorySettings{} },
			Open: func(StateOptions) TrafficState {
				return TrafficState{Limits: NewMemory(0), Quotas: NewMemoryQuotas(0), Abuse: NewMemoryAbuse(0), Once: NewMemoryOnce(0), Evidence: NewMemoryEvidence(0)}
			},
		},
		"redis": {
			Settings: func() config.Settings { return &RedisSettings{} },
			Open: func(o StateOptions) TrafficState {
				st := o.State.Settings.(*RedisSettings)
				rd := NewRedis(RedisOptions{Addrs: st.Addrs, Username: st.Username, Password: st.Password.Value(),
					DB: st.DB, Timeout: st.Timeout.D(), OnError: OnError(st.OnStateError), Log: o.Log, Failures: o.Failures})
				return TrafficState{Limits: rd, Quotas: rd, Abuse: rd, Once: rd, Evidence: rd, Responses: cache.NewRedis(rd.c, o.Log, o.Failures)}
			},
		},
	}
}

// Open opens the state o.State configures.
func (d StateDrivers) Open(o StateOptions) (TrafficState, error) {
	driver, ok := d[o.State.Driver]
	if !ok {
		return TrafficState{}, fmt.Errorf("state driver %s is not available in this build", o.State.Driver)
	}
	return driver.Open(o), nil
}

// Settings are the drivers' settings, for loading a config
// (config.LoadOptions.States).
func (d StateDrivers) Settings() config.SettingsTypes {
	t := config.SettingsTypes{}
	for name, driver := range d {
		t[name] = driver.Settings
	}
	return t
}

// MemorySettings are the keys of the memory driver: none.
type MemorySettings struct{}

// Defaults sets what the file left unset: nothing.
func (s *MemorySettings) Defaults() {}

// Validate checks the settings: nothing to check.
func (s *MemorySettings) Validate(*config.Validation) {}

// RedisSettings are the keys of the redis driver.
type RedisSettings struct {
	Addrs        []string        `yaml:"addrs" json:"addrs,omitempty" doc:"host:port, or several for a cluster."`
	Username     string          `yaml:"username" json:"username,omitempty" doc:"ACL user."`
	Password     *config.Secret  `yaml:"password" json:"password,omitempty" doc:"As env:NAME or file:PATH."`
	DB           int             `yaml:"db" json:"db,omitempty" doc:"Database number."`
	Timeout      config.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"One call. Default 100ms, at most 5s."`
	OnStateError string          `yaml:"on_state_error" json:"on_state_error,omitempty" enum:"local|allow|deny" doc:"When Redis cannot be asked: local (default) enforces limits per node meanwhile; allow admits; deny refuses with 429. Never a 500."`
}

// Defaults sets what the file left unset.
func (s *RedisSettings) Defaults() {
	if s.OnStateError == "" {
		s.OnStateError = "local"
	}
	s.Timeout.Default(100 * time.Millisecond)
}

// Validate checks the settings.
func (s *RedisSettings) Validate(at *config.Validation) {
	if len(s.Addrs) == 0 {
		at.Errorf("addrs", "state.driver redis needs addrs: [\"127.0.0.1:6379\"]")
	}
	for i, a := range s.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			at.Errorf(fmt.Sprintf("addrs[%d]", i), "%q is not host:port", a)
		}
	}
	if s.Timeout.D() > 5*time.Second {
		at.Errorf("timeout", "timeout %s is above 5s: every limited request would wait that long when Redis is unreachable", s.Timeout.D())
	}
}
