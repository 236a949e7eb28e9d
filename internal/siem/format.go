// Package siem delivers security events to SIEMs: the Elastic Common
// Schema and OCSF encodings of an event, and the sinks that carry them
// away from the gateway (syslog over TCP or TLS, HTTP batches for
// webhooks and Splunk's HTTP Event Collector). A sink runs on the event
// bus's goroutine for it, never on the request path: a slow or dead
// receiver fills the sink's bounded queue, and what does not fit is
// dropped and counted.
package siem

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rampart-gw/rampart/internal/observe"
)

// Formats an event can be written in.
const (
	FormatRampart = "rampart" // the gateway's own JSON (observe.Event)
	FormatECS     = "ecs"     // Elastic Common Schema 8.x
	FormatOCSF    = "ocsf"    // Open Cybersecurity Schema Framework 1.x
)

// Encoder turns an event into one JSON document.
type Encoder func(e *observe.Event) ([]byte, error)

// EncoderFor returns the encoder of a format ("" is rampart).
func EncoderFor(format string) (Encoder, error) {
	switch format {
	case "", FormatRampart:
		return func(e *observe.Event) ([]byte, error) { return json.Marshal(e) }, nil
	case FormatECS:
		return func(e *observe.Event) ([]byte, error) { return json.Marshal(ECS(e)) }, nil
	case FormatOCSF:
		return func(e *observe.Event) ([]byte, error) { return json.Marshal(OCSF(e)) }, nil
	}
	return nil, fmt.Errorf("unknown event format %q", format)
}

// Severity grades an event, OCSF's scale: 1 informational, 2 low,
// 3 medium, 4 high.
func Severity(e *observe.Event) int {
	switch {
	case e.Type == "admin.auth_failed":
		return 3
	case strings.HasPrefix(e.Type, "admin."):
		return 2
	case strings.HasPrefix(e.Type, "config."), e.Type == "trail.checkpoint":
		if e.Type == "config.reload_failed" {
			return 3
		}
		return 1
	case e.Type == "waf.detect" || e.Stage == "waf" || e.Type == "abuse.ban" || e.Stage == "abuse" || e.Stage == "bots":
		return 4
	case e.Stage == "authenticate" || e.Stage == "authorize" || e.Stage == "ip" || e.Reason == "response_undecryptable" || e.Type == "data.masked":
		return 3
	}
	return 2
}

// class is what kind of activity an event records.
type class int

const (
	classHTTP class = iota
	classAuthentication
	classDetection
	classConfig
)

func classOf(e *observe.Event) class {
	switch {
	case e.Stage == "authenticate" || e.Type == "admin.auth_failed":
		return classAuthentication
	case strings.HasPrefix(e.Type, "config."), strings.HasPrefix(e.Type, "admin."), strings.HasPrefix(e.Type, "trail."):
		return classConfig
	case e.Type == "waf.detect" || e.Type == "data.masked" || e.Type == "schema.response" || e.Stage == "waf" || e.Stage == "bots" || e.Type == "abuse.ban":
		return classDetection
	}
	return classHTTP
}

// refusal reports whether the event is a request the gateway turned away.
func refusal(e *observe.Event) bool {
	return e.Type == "request.refused" || e.Type == "connection.refused"
}

// ECS returns the event in the Elastic Common Schema.
func ECS(e *observe.Event) map[string]any {
	doc := map[string]any{
		"@timestamp": e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"ecs":        map[string]any{"version": "8.11.0"},
		"observer":   map[string]any{"type": "proxy", "product": "Rampart", "vendor": "Rampart"},
		"message":    e.Detail,
	}
	ev := map[string]any{"action": e.Type, "severity": Severity(e), "module": "rampart", "dataset": "rampart.security"}
	if e.Reason != "" {
		ev["reason"] = e.Reason
	}
	switch classOf(e) {
	case classAuthentication:
		ev["kind"], ev["category"], ev["type"] = "event", []string{"authentication"}, []string{"start"}
	case classDetection:
		ev["kind"], ev["category"], ev["type"] = "alert", []string{"intrusion_detection"}, []string{"info"}
	case classConfig:
		ev["kind"], ev["category"], ev["type"] = "event", []string{"configuration"}, []string{"change"}
	default:
		ev["kind"], ev["category"], ev["type"] = "event", []string{"web", "network"}, []string{"access"}
	}
	switch {
	case refusal(e):
		ev["outcome"] = "failure"
		ev["type"] = append(ev["type"].([]string), "denied")
	case e.Type == "config.reload_failed" || e.Type == "admin.auth_failed":
		ev["outcome"] = "failure"
	case e.Type == "config.reloaded":
		ev["outcome"] = "success"
	}
	doc["event"] = ev
	if e.ClientIP != "" {
		doc["source"] = map[string]any{"ip": e.ClientIP}
	}
	if e.Consumer != "" {
		doc["user"] = map[string]any{"id": e.Consumer}
	}
	if e.Rule != "" {
		doc["rule"] = map[string]any{"id": e.Rule, "ruleset": e.Stage}
	}
	if e.Method != "" || e.Status != 0 || e.RequestID != "" {
		req := map[string]any{}
		if e.Method != "" {
			req["method"] = e.Method
		}
		if e.RequestID != "" {
			req["id"] = e.RequestID
		}
		http := map[string]any{"request": req}
		if e.Status != 0 {
			http["response"] = map[string]any{"status_code": e.Status}
		}
		doc["http"] = http
	}
	if e.Path != "" {
		doc["url"] = map[string]any{"path": e.Path}
	}
	rampart := map[string]any{}
	for k, v := range map[string]string{"stage": e.Stage, "route": e.Route, "authz": e.Authz} {
		if v != "" {
			rampart[k] = v
		}
	}
	if len(e.Masked) > 0 {
		rampart["masked"] = e.Masked
	}
	if len(rampart) > 0 {
		doc["rampart"] = rampart
	}
	return doc
}

// OCSF class and category ids.
const (
	ocsfAuthentication   = 3002 // Identity & Access Management
	ocsfHTTPActivity     = 4002 // Network Activity
	ocsfDetectionFinding = 2004 // Findings
	ocsfAPIActivity      = 6003 // Application Activity
)

// httpActivity is OCSF HTTP Activity's activity_id by method.
var httpActivity = map[string]int{"CONNECT": 1, "DELETE": 2, "GET": 3, "HEAD": 4, "OPTIONS": 5, "POST": 6, "PUT": 7, "TRACE": 8, "PATCH": 99}

// OCSF returns the event as an OCSF 1.1 event: Authentication for
// authentication failures, Detection Finding for WAF matches, bot and
// abuse findings and masked personal data, API Activity for config
// changes, HTTP Activity for every other refusal and throttle.
func OCSF(e *observe.Event) map[string]any {
	sev := Severity(e)
	doc := map[string]any{
		"time":        e.Time.UnixMilli(),
		"severity_id": sev,
		"message":     e.Detail,
		"metadata": map[string]any{"version": "1.1.0", "uid": e.RequestID,
			"product": map[string]any{"name": "Rampart", "vendor_name": "Rampart"}, "log_name": e.Type},
	}
	if e.ClientIP != "" {
		doc["src_endpoint"] = map[string]any{"ip": e.ClientIP}
	}
	if e.Consumer != "" {
		doc["actor"] = map[string]any{"user": map[string]any{"uid": e.Consumer}}
	}
	req := map[string]any{}
	if e.Method != "" {
		req["http_method"] = e.Method
	}
	if e.Path != "" {
		req["url"] = map[string]any{"path": e.Path}
	}
	if e.RequestID != "" {
		req["uid"] = e.RequestID
	}
	status := 1 // success
	if refusal(e) || e.Type == "config.reload_failed" || e.Type == "admin.auth_failed" {
		status = 2 // failure
	}
	var classUID, categoryUID, activity int
	switch classOf(e) {
	case classAuthentication:
		classUID, categoryUID, activity = ocsfAuthentication, 3, 1 // Logon
		doc["status_id"], doc["status_detail"] = status, e.Reason
		doc["user"] = map[string]any{"uid": e.Consumer}
		if len(req) > 0 {
			doc["http_request"] = req
		}
	case classDetection:
		classUID, categoryUID, activity = ocsfDetectionFinding, 2, 1 // Create
		doc["status_id"] = 1                                         // New
		finding := map[string]any{"uid": e.RequestID + ":" + e.Type, "title": e.Detail, "types": []string{e.Reason}}
		if e.Rule != "" {
			finding["analytic"] = map[string]any{"uid": e.Rule, "name": e.Stage, "type_id": 1} // Rule
		}
		doc["finding_info"] = finding
		if len(e.Masked) > 0 {
			doc["unmapped"] = map[string]any{"masked": e.Masked}
		}
		if len(req) > 0 {
			doc["evidences"] = []any{map[string]any{"http_request": req}}
		}
	case classConfig:
		classUID, categoryUID, activity = ocsfAPIActivity, 6, 3 // Update
		doc["status_id"], doc["status_detail"] = status, e.Reason
		doc["api"] = map[string]any{"operation": e.Type}
	default:
		classUID, categoryUID = ocsfHTTPActivity, 4
		activity = httpActivity[e.Method]
		if activity == 0 {
			activity = 99
		}
		doc["status_id"], doc["status_detail"] = status, e.Reason
		if refusal(e) {
			doc["action_id"], doc["disposition_id"] = 2, 2 // Denied, Blocked
		}
		doc["http_request"] = req
		if e.Status != 0 {
			doc["http_response"] = map[string]any{"code": e.Status}
		}
	}
	doc["class_uid"], doc["category_uid"], doc["activity_id"] = classUID, categoryUID, activity
	doc["type_uid"] = classUID*100 + activity
	return doc
}
