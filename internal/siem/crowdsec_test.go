package siem

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/testenv"
)

// TestCrowdSecSignals pushes events to a real Local API as a machine:
// an alert per scenario and address, which the Local API's profile turns
// into a ban decision; other events and repeats within the cooldown are
// not signalled.
func TestCrowdSecSignals(t *testing.T) {
	cs := testenv.StartCrowdSec(t)
	dropped := 0
	s := NewCrowdSecSignals(CrowdSecOptions{Name: "crowdsec", URL: cs.URL, MachineID: "rampart", Password: cs.AddMachine("rampart"),
		Events: []string{"abuse.ban", "attack.*"}, Cooldown: time.Minute, FlushInterval: time.Hour, Dropped: func(n int) { dropped += n }})
	now := time.Now()
	for _, e := range []observe.Event{
		{Time: now, Type: "abuse.ban", Reason: "repeated_offences", Stage: "abuse", ClientIP: "203.0.113.9", Detail: "Banned for 10m.", Route: "orders", RequestID: "r1"},
		{Time: now, Type: "abuse.ban", ClientIP: "203.0.113.9", Detail: "again"},                      // one alert, two events
		{Time: now, Type: "attack.credential_stuffing", ClientIP: "::ffff:198.51.100.4", Detail: "x"}, // as its IPv4 address
		{Time: now, Type: "request.refused", ClientIP: "192.0.2.1"},                                   // not a signalled type
		{Time: now, Type: "abuse.ban"}, // no address
	} {
		if err := s.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	// within the cooldown: not again
	if err := s.Write(&observe.Event{Time: now.Add(time.Second), Type: "abuse.ban", ClientIP: "203.0.113.9"}); err != nil || len(s.pending) != 0 {
		t.Errorf("a repeat within the cooldown was queued: %v", err)
	}
	if err := s.Close(); err != nil || dropped != 0 {
		t.Fatalf("close: %v, %d dropped", err, dropped)
	}
	var alerts []struct {
		Scenario    string `json:"scenario"`
		EventsCount int    `json:"events_count"`
		Source      struct {
			Value string `json:"value"`
		} `json:"source"`
		Decisions []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"decisions"`
		Events []struct {
			Meta []struct{ Key, Value string } `json:"meta"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(cs.Cscli("alerts", "list", "-o", "json")), &alerts); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range alerts {
		if len(a.Decisions) != 1 || a.Decisions[0].Type != "ban" || a.Decisions[0].Value != a.Source.Value {
			t.Errorf("alert %s on %s: decisions %+v, want the profile's ban", a.Scenario, a.Source.Value, a.Decisions)
		}
		got[a.Source.Value] = a.Scenario
		if a.Scenario == "rampart/abuse.ban" {
			meta, _ := json.Marshal(a.Events)
			if a.EventsCount != 2 || !strings.Contains(string(meta), `"r1"`) || !strings.Contains(string(meta), `"orders"`) {
				t.Errorf("the ban alert: %d events, meta %s", a.EventsCount, meta)
			}
		}
	}
	if len(got) != 2 || got["203.0.113.9"] != "rampart/abuse.ban" || got["198.51.100.4"] != "rampart/attack.credential_stuffing" {
		t.Errorf("alerts by address: %v", got)
	}
}

// TestCrowdSecSignalsRefused: a wrong password drops the batch, counted,
// with an error that says what to check.
func TestCrowdSecSignalsRefused(t *testing.T) {
	cs := testenv.StartCrowdSec(t)
	cs.AddMachine("rampart")
	dropped := 0
	s := NewCrowdSecSignals(CrowdSecOptions{Name: "crowdsec", URL: cs.URL, MachineID: "rampart", Password: "wrong",
		Events: []string{"abuse.ban"}, Cooldown: time.Minute, FlushInterval: time.Hour, Dropped: func(n int) { dropped += n }})
	_ = s.Write(&observe.Event{Time: time.Now(), Type: "abuse.ban", ClientIP: "203.0.113.9"})
	err := s.Close()
	if err == nil || !strings.Contains(err.Error(), "check machine_id and password") || dropped != 1 {
		t.Errorf("close: %v, %d dropped", err, dropped)
	}
}
