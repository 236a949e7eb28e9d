package siem

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/pki"
)

// CrowdSecOptions configure a CrowdSec signal sink.
type CrowdSecOptions struct {
	Name      string
	URL       string // the Local API's base URL
	MachineID string
	Password  string
	// Events are the event types sent, exact or a prefix ending in .*
	// (attack.*).
	Events []string
	// Cooldown is how long an address is not signalled again for the
	// same scenario.
	Cooldown      time.Duration
	FlushInterval time.Duration
	Timeout       time.Duration
	TLS           *tls.Config // nil: the system's roots
	Client        *http.Client
	Dropped       func(n int) // alerts given up after a failed push
}

// CrowdSecSignals pushes the gateway's security events about client
// addresses to a CrowdSec Local API as alerts (signals), logged in as a
// machine (a watcher): the Local API's profiles decide the remediation,
// which reaches every bouncer, the gateway's own crowdsec feeds among
// them. One alert per scenario and address in each cooldown; alerts are
// sent in batches from a goroutine of the sink's own.
type CrowdSecSignals struct {
	o CrowdSecOptions

	mu      sync.Mutex
	pending map[signalKey]*pendingAlert
	order   []signalKey
	sent    map[signalKey]time.Time // when each was last signalled

	tokenMu sync.Mutex
	token   string
	expires time.Time

	done chan struct{}
	wg   sync.WaitGroup
}

type signalKey struct{ scenario, ip string }

type pendingAlert struct {
	first, last time.Time
	count       int
	message     string
	events      []observe.Event // the first few, as the alert's evidence
}

// maxAlertEvents bounds the events an alert carries as evidence.
const maxAlertEvents = 5

// maxPendingAlerts bounds the alerts waiting for a push, and
// maxSignalled the addresses remembered for the cooldown.
const (
	maxPendingAlerts = 1000
	maxSignalled     = 100_000
)

// NewCrowdSecSignals returns the sink and starts its flusher.
func NewCrowdSecSignals(o CrowdSecOptions) *CrowdSecSignals {
	if o.FlushInterval <= 0 {
		o.FlushInterval = 2 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Client == nil {
		tc := o.TLS
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		o.Client = &http.Client{Timeout: o.Timeout, Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}}
	}
	if o.Dropped == nil {
		o.Dropped = func(int) {}
	}
	s := &CrowdSecSignals{o: o, pending: map[signalKey]*pendingAlert{}, sent: map[signalKey]time.Time{}, done: make(chan struct{})}
	s.wg.Add(1)
	go s.loop()
	return s
}

// Name implements observe.Sink.
func (s *CrowdSecSignals) Name() string { return s.o.Name }

// Scenario is the CrowdSec scenario an event type is signalled as.
func Scenario(eventType string) string { return "rampart/" + eventType }

// wants reports whether events of type t are signalled.
func (s *CrowdSecSignals) wants(t string) bool {
	for _, e := range s.o.Events {
		if e == t || (strings.HasSuffix(e, ".*") && strings.HasPrefix(t, e[:len(e)-1])) {
			return true
		}
	}
	return false
}

// Write implements observe.Sink: an event of a signalled type about a
// client address joins the pending alert of its scenario and address,
// unless that was signalled within the cooldown.
func (s *CrowdSecSignals) Write(e *observe.Event) error {
	if !s.wants(e.Type) {
		return nil
	}
	ip, err := netip.ParseAddr(e.ClientIP)
	if err != nil {
		return nil // no address to signal
	}
	k := signalKey{Scenario(e.Type), ip.Unmap().String()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.sent[k]; ok && e.Time.Sub(t) < s.o.Cooldown {
		return nil
	}
	a := s.pending[k]
	if a == nil {
		if len(s.pending) >= maxPendingAlerts {
			s.o.Dropped(1)
			return errors.New("too many alerts waiting for the Local API")
		}
		a = &pendingAlert{first: e.Time, message: e.Detail}
		s.pending[k] = a
		s.order = append(s.order, k)
	}
	a.last = e.Time
	a.count++
	if len(a.events) < maxAlertEvents {
		a.events = append(a.events, *e)
	}
	return nil
}

func (s *CrowdSecSignals) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = s.flush()
		case <-s.done:
			return
		}
	}
}

// lapiAlert is an alert as the Local API takes it (POST /v1/alerts).
type lapiAlert struct {
	Scenario        string      `json:"scenario"`
	ScenarioHash    string      `json:"scenario_hash"`
	ScenarioVersion string      `json:"scenario_version"`
	Message         string      `json:"message"`
	EventsCount     int         `json:"events_count"`
	StartAt         string      `json:"start_at"`
	StopAt          string      `json:"stop_at"`
	Capacity        int         `json:"capacity"`
	Leakspeed       string      `json:"leakspeed"`
	Simulated       bool        `json:"simulated"`
	Remediation     bool        `json:"remediation"`
	Events          []lapiEvent `json:"events"`
	Source          lapiSource  `json:"source"`
	Labels          []string    `json:"labels,omitempty"`
}

type lapiEvent struct {
	Timestamp string     `json:"timestamp"`
	Meta      []lapiMeta `json:"meta"`
}

type lapiMeta struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type lapiSource struct {
	Scope string `json:"scope"`
	Value string `json:"value"`
	IP    string `json:"ip"`
}

// flush pushes the pending alerts; on failure they are dropped and
// counted (an attack still going on signals again).
func (s *CrowdSecSignals) flush() error {
	s.mu.Lock()
	if len(s.order) == 0 {
		s.mu.Unlock()
		return nil
	}
	alerts := make([]lapiAlert, 0, len(s.order))
	for _, k := range s.order {
		a := s.pending[k]
		alerts = append(alerts, a.toLAPI(k))
		s.sent[k] = a.last
	}
	s.pending, s.order = map[signalKey]*pendingAlert{}, nil
	if len(s.sent) > maxSignalled {
		s.forgetOld()
	}
	s.mu.Unlock()
	err := s.push(alerts)
	if err != nil {
		s.o.Dropped(len(alerts))
		return fmt.Errorf("%d alerts dropped: %w", len(alerts), err)
	}
	return nil
}

// forgetOld drops the addresses past their cooldown, or the older half
// when all are within it; with s.mu held.
func (s *CrowdSecSignals) forgetOld() {
	now := time.Now()
	for k, t := range s.sent {
		if now.Sub(t) >= s.o.Cooldown {
			delete(s.sent, k)
		}
	}
	if len(s.sent) <= maxSignalled/2 {
		return
	}
	times := make([]time.Time, 0, len(s.sent))
	for _, t := range s.sent {
		times = append(times, t)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	cut := times[len(times)/2]
	for k, t := range s.sent {
		if t.Before(cut) {
			delete(s.sent, k)
		}
	}
}

func (a *pendingAlert) toLAPI(k signalKey) lapiAlert {
	out := lapiAlert{Scenario: k.scenario, ScenarioVersion: "1", Message: a.message, EventsCount: a.count,
		StartAt: a.first.UTC().Format(time.RFC3339Nano), StopAt: a.last.UTC().Format(time.RFC3339Nano),
		Leakspeed: "0", Remediation: true, Source: lapiSource{Scope: "Ip", Value: k.ip, IP: k.ip}}
	for _, e := range a.events {
		ev := lapiEvent{Timestamp: e.Time.UTC().Format(time.RFC3339Nano), Meta: []lapiMeta{{"source_ip", k.ip}, {"service", "rampart"}}}
		for _, m := range []lapiMeta{{"rampart_event", e.Type}, {"reason", e.Reason}, {"stage", e.Stage}, {"rule", e.Rule},
			{"route", e.Route}, {"http_verb", e.Method}, {"http_path", e.Path}, {"request_id", e.RequestID}, {"consumer", e.Consumer}} {
			if m.Value != "" {
				ev.Meta = append(ev.Meta, m)
			}
		}
		out.Events = append(out.Events, ev)
	}
	return out
}

func (s *CrowdSecSignals) push(alerts []lapiAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	for try := 0; ; try++ {
		token, err := s.login(try > 0)
		if err != nil {
			return err
		}
		status, msg, err := s.post("/v1/alerts", body, token)
		switch {
		case err != nil:
			return err
		case status == http.StatusUnauthorized && try == 0: // the token expired early: log in again
			continue
		case status != http.StatusCreated && status != http.StatusOK:
			return fmt.Errorf("the Local API refused the alerts (%d): %s", status, msg)
		}
		return nil
	}
}

// login returns a token, logging in when there is none, it is about to
// expire, or again is set.
func (s *CrowdSecSignals) login(again bool) (string, error) {
	s.tokenMu.Lock()
	defer s.tokenMu.Unlock()
	if !again && s.token != "" && time.Until(s.expires) > time.Minute {
		return s.token, nil
	}
	body, _ := json.Marshal(map[string]any{"machine_id": s.o.MachineID, "password": s.o.Password, "scenarios": []string{}})
	status, msg, err := s.post("/v1/watchers/login", body, "")
	if err != nil {
		return "", err
	}
	var res struct {
		Token  string `json:"token"`
		Expire string `json:"expire"`
	}
	if status != http.StatusOK || json.Unmarshal(msg, &res) != nil || res.Token == "" {
		return "", fmt.Errorf("the Local API refused machine %s's login (%d): check machine_id and password against cscli machines list", s.o.MachineID, status)
	}
	s.token = res.Token
	s.expires = time.Now().Add(30 * time.Minute)
	if t, err := time.Parse(time.RFC3339, res.Expire); err == nil {
		s.expires = t
	}
	return s.token, nil
}

// post sends a JSON body and returns the status and at most 4KiB of the
// answer.
func (s *CrowdSecSignals) post(path string, body []byte, token string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.o.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rampart-signals/v1")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.o.Client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("the Local API: %w", err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	return res.StatusCode, bytes.TrimSpace(msg), nil
}

// Close implements observe.Sink: the flusher stops and what is pending
// is pushed.
func (s *CrowdSecSignals) Close() error {
	close(s.done)
	s.wg.Wait()
	err := s.flush()
	s.o.Client.CloseIdleConnections()
	return err
}

// CrowdSecSettings are the keys of the crowdsec sink type.
type CrowdSecSettings struct {
	URL       string          `yaml:"url" json:"url,omitempty" doc:"The CrowdSec Local API, e.g. http://127.0.0.1:8080: http only on loopback, https elsewhere."`
	MachineID string          `yaml:"machine_id" json:"machine_id,omitempty" doc:"The machine (watcher) the gateway logs in as: cscli machines add rampart --password ... ."`
	Password  *config.Secret  `yaml:"password" json:"password,omitempty" doc:"The machine's password, as env:NAME or file:PATH."`
	Events    []string        `yaml:"events" json:"events,omitempty" doc:"The event types signalled, exact or a prefix ending in .* (attack.*); only events with a client address are. Default [abuse.ban, attack.credential_stuffing]."`
	Cooldown  config.Duration `yaml:"cooldown" json:"cooldown,omitempty" doc:"An address is signalled at most once per scenario in this time. Default 5m."`
	CAFile    string          `yaml:"ca_file" json:"ca_file,omitempty" doc:"CA bundle the Local API's certificate must chain to, for https. Default: the system's."`
	Timeout   config.Duration `yaml:"timeout" json:"timeout,omitempty" doc:"One push. Default 5s."`
}

// Defaults sets what the file left unset.
func (s *CrowdSecSettings) Defaults() {
	if len(s.Events) == 0 {
		s.Events = []string{"abuse.ban", "attack.credential_stuffing"}
	}
	if s.Cooldown == 0 {
		s.Cooldown = config.Duration(5 * time.Minute)
	}
}

// Validate checks the settings.
func (s *CrowdSecSettings) Validate(at *config.Validation) {
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		at.Errorf("url", "a crowdsec sink needs url: the Local API, e.g. http://127.0.0.1:8080")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		at.Errorf("url", "%q is not an http(s) URL", s.URL)
	case u.Scheme == "http" && !config.IsLoopback(u.Hostname()):
		at.Errorf("url", "the machine's password would travel in clear to %s: use https, or http on loopback only", u.Host)
	}
	if s.MachineID == "" {
		at.Errorf("machine_id", "a crowdsec sink logs in as a machine: give machine_id (cscli machines add NAME --password ...)")
	}
	if !s.Password.IsSet() {
		at.Errorf("password", "a crowdsec sink needs the machine's password, as env:NAME or file:PATH")
	}
	for i, e := range s.Events {
		if strings.Trim(strings.TrimSuffix(e, ".*"), "abcdefghijklmnopqrstuvwxyz_.") != "" || e == "" || e == ".*" {
			at.Errorf(fmt.Sprintf("events[%d]", i), "%q is not an event type (abuse.ban) or a prefix of them (attack.*)", e)
		}
	}
	if s.Cooldown < 0 {
		at.Errorf("cooldown", "cooldown cannot be negative")
	}
	if s.CAFile != "" {
		at.PEMFile("ca_file", s.CAFile, config.CABundleFile)
	}
}

var crowdsecKind = &SinkKind{Type: "crowdsec", Settings: func() config.Settings { return &CrowdSecSettings{} },
	Open: func(env *SinkEnv, i int, sink *config.EventSink, _ Encoder) (observe.Sink, error) {
		s := sink.Settings.(*CrowdSecSettings)
		name := fmt.Sprintf("crowdsec[%d]:%s", i, s.URL)
		o := CrowdSecOptions{Name: name, URL: s.URL, MachineID: s.MachineID, Password: s.Password.Value(), Events: s.Events,
			Cooldown: s.Cooldown.D(), Timeout: s.Timeout.D(), Dropped: func(n int) { env.Dropped(name, n) }}
		if s.CAFile != "" {
			pool, err := pki.CertPool(env.Config.Path(s.CAFile))
			if err != nil {
				return nil, fmt.Errorf("events.sinks[%d].ca_file: %w", i, err)
			}
			o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
		}
		return NewCrowdSecSignals(o), nil
	}}
