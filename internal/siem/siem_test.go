package siem

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/testenv"
)

var when = time.Date(2026, 11, 24, 13, 40, 2, 0, time.UTC)

func events() map[string]observe.Event {
	return map[string]observe.Event{
		"auth":     {Time: when, Type: "request.refused", Reason: "invalid_credentials", Stage: "authenticate", Status: 401, Detail: "The API key is not valid.", ClientIP: "192.0.2.7", RequestID: "r1", Route: "orders", Method: "GET", Path: "/v1/orders"},
		"waf":      {Time: when, Type: "request.refused", Reason: "waf", Stage: "waf", Status: 403, Rule: "942100,949110", Detail: "SQL injection.", ClientIP: "192.0.2.7", RequestID: "r2", Method: "POST", Path: "/v1/search", Consumer: "acme"},
		"throttle": {Time: when, Type: "request.refused", Reason: "rate_limited", Stage: "rate_limit", Status: 429, Rule: "consumer-100-per-s", ClientIP: "192.0.2.7", RequestID: "r3", Method: "PUT", Path: "/v1/orders/7", Consumer: "acme"},
		"masked":   {Time: when, Type: "data.masked", Reason: "pii_in_response", Stage: "response", Status: 200, Detail: "3 values masked", Masked: map[string]int{"email": 2, "card": 1}, RequestID: "r4", Method: "GET", Path: "/v1/customers/42"},
		"config":   {Time: when, Type: "config.reloaded", Detail: "config applied"},
	}
}

// TestOCSF: each kind of event lands in its OCSF class, with the ids the
// schema derives (type_uid = class_uid * 100 + activity_id).
func TestOCSF(t *testing.T) {
	for name, want := range map[string]struct{ class, category, activity, severity int }{
		"auth":     {3002, 3, 1, 3},
		"waf":      {2004, 2, 1, 4},
		"throttle": {4002, 4, 7, 2},
		"masked":   {2004, 2, 1, 3},
		"config":   {6003, 6, 3, 1},
	} {
		e := events()[name]
		b, err := json.Marshal(OCSF(&e))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		_ = json.Unmarshal(b, &doc)
		got := []int{int(doc["class_uid"].(float64)), int(doc["category_uid"].(float64)), int(doc["activity_id"].(float64)), int(doc["severity_id"].(float64))}
		if got[0] != want.class || got[1] != want.category || got[2] != want.activity || got[3] != want.severity {
			t.Errorf("%s: class, category, activity, severity = %v, want %+v", name, got, want)
		}
		if int(doc["type_uid"].(float64)) != want.class*100+want.activity || doc["time"].(float64) != float64(when.UnixMilli()) {
			t.Errorf("%s: type_uid %v, time %v", name, doc["type_uid"], doc["time"])
		}
		if doc["metadata"].(map[string]any)["product"].(map[string]any)["name"] != "Rampart" {
			t.Errorf("%s: metadata %v", name, doc["metadata"])
		}
	}
	e := events()["throttle"]
	doc := OCSF(&e)
	if doc["disposition_id"] != 2 || doc["http_response"].(map[string]any)["code"] != 429 || doc["src_endpoint"].(map[string]any)["ip"] != "192.0.2.7" {
		t.Errorf("HTTP Activity: %v", doc)
	}
	e = events()["waf"]
	if fi := OCSF(&e)["finding_info"].(map[string]any); fi["analytic"].(map[string]any)["uid"] != "942100,949110" {
		t.Errorf("finding: %v", fi)
	}
}

// TestECS: categories, outcome and the fields SIEMs key on.
func TestECS(t *testing.T) {
	for name, want := range map[string]struct{ kind, category, outcome string }{
		"auth":     {"event", "authentication", "failure"},
		"waf":      {"alert", "intrusion_detection", "failure"},
		"throttle": {"event", "web", "failure"},
		"masked":   {"alert", "intrusion_detection", ""},
		"config":   {"event", "configuration", "success"},
	} {
		e := events()[name]
		doc := ECS(&e)
		ev := doc["event"].(map[string]any)
		outcome, _ := ev["outcome"].(string)
		if ev["kind"] != want.kind || ev["category"].([]string)[0] != want.category || outcome != want.outcome {
			t.Errorf("%s: event %v", name, ev)
		}
		if doc["@timestamp"] != "2026-11-24T13:40:02.000Z" {
			t.Errorf("%s: @timestamp %v", name, doc["@timestamp"])
		}
	}
	e := events()["waf"]
	doc := ECS(&e)
	if doc["source"].(map[string]any)["ip"] != "192.0.2.7" || doc["user"].(map[string]any)["id"] != "acme" ||
		doc["rule"].(map[string]any)["id"] != "942100,949110" || doc["http"].(map[string]any)["response"].(map[string]any)["status_code"] != 403 ||
		doc["url"].(map[string]any)["path"] != "/v1/search" {
		t.Errorf("ecs: %v", doc)
	}
}

// TestSyslogToRsyslog: events reach a real rsyslogd as RFC 5424 messages
// (facility log audit, the event type as MSGID) carrying the encoded
// event; a restarted receiver is dialled again.
func TestSyslogToRsyslog(t *testing.T) {
	rs := testenv.StartRsyslog(t)
	enc, _ := EncoderFor(FormatOCSF)
	s := NewSyslog("syslog", rs.Addr, nil, enc, 2*time.Second, nil)
	defer s.Close()
	for _, name := range []string{"auth", "waf", "config"} {
		e := events()[name]
		if err := s.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	var msgs []string
	deadline := time.Now().Add(5 * time.Second)
	for len(msgs) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		msgs = rs.Messages()
	}
	if len(msgs) != 3 {
		t.Fatalf("rsyslog got %d messages: %q", len(msgs), msgs)
	}
	// <PRI>1 TIMESTAMP HOST rampart PID MSGID - JSON; PRI = 13*8 + severity
	for i, want := range []struct{ pri, msgid string }{{"<108>1 ", "request.refused"}, {"<107>1 ", "request.refused"}, {"<110>1 ", "config.reloaded"}} {
		m := msgs[i]
		f := strings.SplitN(m, " ", 8)
		if !strings.HasPrefix(m, want.pri) || len(f) < 8 || f[1] != "2026-11-24T13:40:02Z" || f[3] != "rampart" || f[5] != want.msgid || f[6] != "-" {
			t.Errorf("message %d: %q", i, m)
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(f[7]), &doc); err != nil || doc["class_uid"] == nil {
			t.Errorf("message %d body: %v %q", i, err, f[7])
		}
	}
}

type receiver struct {
	mu      sync.Mutex
	bodies  []string
	auth    []string
	fail    atomic.Int32 // answer 503 this many more times
	hang    atomic.Bool
	release chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.hang.Load() {
		select {
		case <-rc.release:
		case <-r.Context().Done():
		}
		return
	}
	b, _ := io.ReadAll(r.Body)
	if rc.fail.Add(-1) >= 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, string(b))
	rc.auth = append(rc.auth, r.Header.Get("Authorization"))
	rc.mu.Unlock()
}

func (rc *receiver) got() ([]string, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bodies...), append([]string(nil), rc.auth...)
}

// TestHTTPBatch: events go in batches (full, or on the interval), a
// failing receiver is retried, Splunk HEC gets its envelope and token, and
// a batch that keeps failing is dropped and counted.
func TestHTTPBatch(t *testing.T) {
	rc := &receiver{release: make(chan struct{})}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	enc, _ := EncoderFor(FormatECS)
	var dropped atomic.Int64
	h := NewHTTPBatch(HTTPOptions{Name: "hook", URL: srv.URL, Flavor: FlavorWebhook, Token: "t0k", Encoder: enc, BatchSize: 2,
		FlushInterval: 100 * time.Millisecond, Timeout: time.Second, Retries: 2, Dropped: func(n int) { dropped.Add(int64(n)) }})
	rc.fail.Store(1) // the first POST fails once, then succeeds
	for _, name := range []string{"auth", "waf", "config"} {
		e := events()[name]
		if err := h.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the third goes on the interval
	bodies, auth := rc.got()
	if len(bodies) != 2 || auth[0] != "Bearer t0k" {
		t.Fatalf("bodies %q auth %q", bodies, auth)
	}
	var batch []map[string]any
	if err := json.Unmarshal([]byte(bodies[0]), &batch); err != nil || len(batch) != 2 || batch[0]["event"] == nil {
		t.Fatalf("first batch: %v %s", err, bodies[0])
	}

	// Splunk HEC: one {"event": ...} per line, the Splunk token.
	hec := NewHTTPBatch(HTTPOptions{Name: "hec", URL: srv.URL, Flavor: FlavorSplunkHEC, Token: "hec-tok", Encoder: enc, BatchSize: 2, Timeout: time.Second})
	for _, name := range []string{"auth", "waf"} {
		e := events()[name]
		_ = hec.Write(&e)
	}
	_ = hec.Close()
	bodies, auth = rc.got()
	last := bodies[len(bodies)-1]
	lines := strings.Split(strings.TrimSpace(last), "\n")
	var env map[string]any
	if auth[len(auth)-1] != "Splunk hec-tok" || len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &env) != nil || env["sourcetype"] != "rampart:security" || env["event"] == nil {
		t.Fatalf("HEC: %q %q", auth[len(auth)-1], last)
	}

	// A receiver that hangs: each try times out, the batch is dropped and
	// counted, and Write returns (after the tries) without a deadlock.
	rc.hang.Store(true)
	hang := NewHTTPBatch(HTTPOptions{Name: "hang", URL: srv.URL, Encoder: enc, BatchSize: 1, Timeout: 100 * time.Millisecond, Retries: 1,
		Dropped: func(n int) { dropped.Add(int64(n)) }})
	e := events()["auth"]
	start := time.Now()
	if err := hang.Write(&e); err == nil {
		t.Error("a hanging receiver reported no error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Write took %v", d)
	}
	close(rc.release)
	_ = hang.Close()
	_ = h.Close()
	if dropped.Load() != 1 {
		t.Errorf("dropped %d, want 1", dropped.Load())
	}
}

// TestSyslogTLS: over TLS (RFC 5425) to a receiver with a certificate
// from the test's own CA, which the sink trusts through its config.
func TestSyslogTLS(t *testing.T) {
	ca, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &ca.PublicKey, ca)
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "siem.test"}, DNSNames: []string{"siem.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		n, _ := br.ReadString(' ')
		size, _ := strconv.Atoi(strings.TrimSpace(n))
		msg := make([]byte, size)
		_, _ = io.ReadFull(br, msg)
		got <- string(msg)
	}()
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	enc, _ := EncoderFor(FormatECS)
	s := NewSyslog("tls", l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "siem.test", MinVersion: tls.VersionTLS12}, enc, 2*time.Second, nil)
	defer s.Close()
	e := events()["waf"]
	if err := s.Write(&e); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if !strings.HasPrefix(m, "<107>1 ") || !strings.Contains(m, `"rule":{"id":"942100,949110"`) {
			t.Errorf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received over TLS")
	}
	// an untrusted certificate is refused
	bad := NewSyslog("bad", l.Addr().String(), &tls.Config{ServerName: "siem.test", MinVersion: tls.VersionTLS12}, enc, time.Second, nil)
	defer bad.Close()
	if err := bad.Write(&e); err == nil {
		t.Error("a certificate from an unknown CA was accepted")
	}
}
