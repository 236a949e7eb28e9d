package e2e

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// soapStub is a SOAP 1.1 and 1.2 service that reads real envelopes: a
// user directory whose GetUser answers a user, a Client fault for an
// unknown id, and a Server fault whose text names its internals.
func soapStub(t *testing.T) (string, func() []string) {
	var mu sync.Mutex
	var seen []string
	addr := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Header.Get("Soapaction")+" "+r.Header.Get("Content-Type")+" "+string(body))
		mu.Unlock()
		var env struct {
			XMLName xml.Name
			Body    struct {
				GetUser struct {
					ID string `xml:"id"`
				} `xml:"GetUser"`
			} `xml:"Body"`
		}
		if err := xml.Unmarshal(body, &env); err != nil || env.XMLName.Local != "Envelope" {
			http.Error(w, "not an envelope", http.StatusBadRequest)
			return
		}
		ns := env.XMLName.Space
		v12 := ns == "http://www.w3.org/2003/05/soap-envelope"
		ct := "text/xml; charset=utf-8"
		if v12 {
			ct = "application/soap+xml; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		reply := func(status int, inner string) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0"?><env:Envelope xmlns:env=%q><env:Body>%s</env:Body></env:Envelope>`, ns, inner)
		}
		switch id := env.Body.GetUser.ID; {
		case id == "u1" || id == `a&b<c>"`:
			reply(200, fmt.Sprintf(`<GetUserResponse xmlns="urn:users"><user id="%s"><name>Ada Lovelace</name><role>admin</role><role>ops</role></user></GetUserResponse>`, xmlEscape(id)))
		case id == "boom" && !v12:
			reply(500, `<env:Fault><faultcode>env:Server</faultcode><faultstring>ORA-12541 at 10.1.2.3:1521</faultstring></env:Fault>`)
		case v12:
			reply(500, `<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code><env:Reason><env:Text xml:lang="en">no user `+xmlEscape(id)+`</env:Text></env:Reason></env:Fault>`)
		default:
			reply(500, `<env:Fault><faultcode>env:Client</faultcode><faultstring>no user `+xmlEscape(id)+`</faultstring></env:Fault>`)
		}
	}))
	return addr, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// TestSOAPOperation serves a SOAP operation as a JSON endpoint, 1.1 and
// 1.2: values XML-escaped into the envelope, the result element as JSON,
// faults as problems (a server fault's text withheld), and a reply with a
// DTD refused.
func TestSOAPOperation(t *testing.T) {
	addr, seen := soapStub(t)
	dtd := serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><e>&b;</e>`)
	}))
	g := startGateway(t, fmt.Sprintf(`version: 1
server:
  listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
upstreams:
  directory: {targets: [{url: "http://%s"}]}
  hostile: {targets: [{url: "http://%s"}]}
routes:
  - name: user
    match: {paths: ["/v1/users/{id}"], methods: [GET]}
    upstream: directory
    policy: public
    soap_operation:
      endpoint: /ws/users
      action: urn:users#GetUser
      body: '<GetUser xmlns="urn:users"><id>{{ params.id }}</id></GetUser>'
      result: GetUserResponse.user
  - name: user12
    match: {paths: ["/v2/users/{id}"], methods: [GET]}
    upstream: directory
    policy: public
    soap_operation:
      endpoint: /ws/users
      action: urn:users#GetUser
      version: "1.2"
      body: '<GetUser xmlns="urn:users"><id>{{ params.id }}</id></GetUser>'
      result: GetUserResponse.user
  - name: hostile
    match: {paths: ["/v1/hostile"], methods: [GET]}
    upstream: hostile
    policy: public
    soap_operation: {endpoint: /ws, body: "<Get/>"}
`, addr, dtd))
	for _, prefix := range []string{"/v1", "/v2"} {
		r := get(t, g.url(prefix+"/users/u1"))
		if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"@id":"u1","name":"Ada Lovelace","role":["admin","ops"]}` {
			t.Fatalf("%s: %d %s", prefix, r.status, r.body)
		}
		p := problemOf(t, get(t, g.url(prefix+"/users/u9")), http.StatusBadRequest)
		if !strings.Contains(fmt.Sprint(p["detail"]), "no user u9") {
			t.Fatalf("%s client fault: %v", prefix, p)
		}
	}
	// a value with XML's special characters stays a value
	r := get(t, g.url(`/v1/users/a&b%3Cc%3E%22`))
	if r.status != 200 || !strings.Contains(string(r.body), `"@id":"a\u0026b\u003cc\u003e\""`) {
		t.Fatalf("escaping: %d %s", r.status, r.body)
	}
	// a server fault says nothing of its internals
	r = get(t, g.url("/v1/users/boom"))
	problemOf(t, r, http.StatusBadGateway)
	if strings.Contains(string(r.body), "10.1.2.3") || strings.Contains(string(r.body), "ORA-") {
		t.Fatalf("the fault leaked: %s", r.body)
	}
	// a reply with a DTD is not read
	problemOf(t, get(t, g.url("/v1/hostile")), http.StatusBadGateway)
	// the service got envelopes, with the action in each version's place
	var v11, v12 bool
	for _, s := range seen() {
		v11 = v11 || strings.HasPrefix(s, `"urn:users#GetUser" text/xml`) && strings.Contains(s, `<id>a&amp;b&lt;c&gt;&#34;</id>`)
		v12 = v12 || strings.HasPrefix(s, ` application/soap+xml; charset=utf-8; action="urn:users#GetUser"`)
	}
	if !v11 || !v12 {
		t.Fatalf("the service saw: %q", seen())
	}
}
