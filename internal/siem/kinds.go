package siem

import (
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"slices"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/pki"
)

// A SinkKind is one type of event sink (events.sinks[].type), declared
// here: the gateway opens the configured sinks through their kinds and
// switches on no type.
type SinkKind struct {
	Type string
	// Settings returns its empty settings: its keys, their defaults and
	// rules (config.Settings).
	Settings func() config.Settings
	// Open makes the sink events.sinks[i], encoding with enc.
	Open func(env *SinkEnv, i int, s *config.EventSink, enc Encoder) (observe.Sink, error)
}

// SinkEnv is what opening a sink may use of the gateway.
type SinkEnv struct {
	Config *config.Config
	// Dropped counts n events the sink called name lost.
	Dropped func(name string, n int)
	// OpenFile opens an event file (a path, stdout or stderr), rotated
	// past maxBytes when that is set, and reopened on SIGUSR1.
	OpenFile func(path string, maxBytes int64, keep int) (*observe.LineWriter, error)
}

// SinkKinds is the registry of event sink types.
type SinkKinds map[string]*SinkKind

// BuiltinSinks returns the sink types of this build: jsonl, syslog, http,
// crowdsec.
func BuiltinSinks() SinkKinds {
	return SinkKinds{"jsonl": jsonlKind, "syslog": syslogKind, "http": httpKind, "crowdsec": crowdsecKind}
}

// Types lists the registered types, sorted.
func (k SinkKinds) Types() []string { return slices.Sorted(maps.Keys(k)) }

// Settings are the types' settings, for loading a config
// (config.LoadOptions.Sinks).
func (k SinkKinds) Settings() config.SettingsTypes {
	t := config.SettingsTypes{}
	for name, kind := range k {
		t[name] = kind.Settings
	}
	return t
}

// Open opens events.sinks[i] by its kind.
func (k SinkKinds) Open(env *SinkEnv, i int, s *config.EventSink) (observe.Sink, error) {
	kind, ok := k[s.Type]
	if !ok {
		return nil, fmt.Errorf("events.sinks[%d]: type %s is not available in this build", i, s.Type)
	}
	enc, err := EncoderFor(s.Format)
	if err != nil {
		return nil, err
	}
	return kind.Open(env, i, s, enc)
}

var jsonlKind = &SinkKind{Type: "jsonl", Settings: func() config.Settings { return &JSONLSettings{} },
	Open: func(env *SinkEnv, i int, sink *config.EventSink, enc Encoder) (observe.Sink, error) {
		s := sink.Settings.(*JSONLSettings)
		w, err := env.OpenFile(s.Path, int64(s.MaxBytes), s.Keep)
		if err != nil {
			return nil, err
		}
		return observe.NewJSONLinesEncoded(fmt.Sprintf("%s[%d]:%s", sink.Type, i, s.Path), w, enc), nil
	}}

var syslogKind = &SinkKind{Type: "syslog", Settings: func() config.Settings { return &SyslogSettings{} },
	Open: func(env *SinkEnv, i int, sink *config.EventSink, enc Encoder) (observe.Sink, error) {
		s := sink.Settings.(*SyslogSettings)
		var tc *tls.Config
		if s.TLS != nil {
			var err error
			if tc, err = sinkTLS(env.Config, s.Address, s.TLS); err != nil {
				return nil, fmt.Errorf("events.sinks[%d]: %w", i, err)
			}
		}
		name := fmt.Sprintf("syslog[%d]:%s", i, s.Address)
		return NewSyslog(name, s.Address, tc, enc, s.Timeout.D(), func() { env.Dropped(name, 1) }), nil
	}}

var httpKind = &SinkKind{Type: "http", Settings: func() config.Settings { return &HTTPSettings{} },
	Open: func(env *SinkEnv, i int, sink *config.EventSink, enc Encoder) (observe.Sink, error) {
		s := sink.Settings.(*HTTPSettings)
		name := fmt.Sprintf("http[%d]:%s", i, s.URL)
		return NewHTTPBatch(HTTPOptions{Name: name, URL: s.URL, Flavor: s.Flavor, Token: s.Token.Value(),
			Encoder: enc, BatchSize: s.BatchSize, FlushInterval: s.FlushInterval.D(), Timeout: s.Timeout.D(), Retries: s.Retries,
			Dropped: func(n int) { env.Dropped(name, n) }}), nil
	}}

// sinkTLS is the TLS configuration to an event receiver at addr.
func sinkTLS(cfg *config.Config, addr string, c *SinkTLS) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.ServerName != "" {
		tc.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		pool, err := pki.CertPool(cfg.Path(c.CAFile))
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
