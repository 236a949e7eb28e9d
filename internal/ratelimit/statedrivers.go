package ratelimit

import (
	"fmt"
	"log/slog"

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
}

// StateOptions are what opening a state driver may use.
type StateOptions struct {
	State *config.State
	Log   *slog.Logger
	// Failures counts a failed call to a shared state.
	Failures func()
}

// StateDrivers is the registry of state drivers (state.driver). Main
// makes it (BuiltinStateDrivers) and hands it to the gateway, which
// switches on no driver.
type StateDrivers map[string]func(o StateOptions) TrafficState

// BuiltinStateDrivers returns the drivers of this build: memory (per
// node) and redis (shared by every node, with per-node memory standing
// in while it cannot be reached, as state.on_state_error says).
func BuiltinStateDrivers() StateDrivers {
	return StateDrivers{
		"memory": func(StateOptions) TrafficState {
			return TrafficState{Limits: NewMemory(0), Quotas: NewMemoryQuotas(0), Abuse: NewMemoryAbuse(0), Once: NewMemoryOnce(0)}
		},
		"redis": func(o StateOptions) TrafficState {
			st := o.State
			rd := NewRedis(RedisOptions{Addrs: st.Addrs, Username: st.Username, Password: st.Password.Value(),
				DB: st.DB, Timeout: st.Timeout.D(), OnError: OnError(st.OnStateError), Log: o.Log, Failures: o.Failures})
			return TrafficState{Limits: rd, Quotas: rd, Abuse: rd, Once: rd}
		},
	}
}

// Open opens the state o.State configures.
func (d StateDrivers) Open(o StateOptions) (TrafficState, error) {
	open, ok := d[o.State.Driver]
	if !ok {
		return TrafficState{}, fmt.Errorf("state driver %s is not available in this build", o.State.Driver)
	}
	return open(o), nil
}
