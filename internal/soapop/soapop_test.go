package soapop

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/transform"
)

func TestCompile(t *testing.T) {
	ctx := transform.Context{Params: []string{"id"}}
	for _, tc := range []struct {
		name string
		op   config.SOAPOperation
		want string
	}{
		{name: "ok", op: config.SOAPOperation{Endpoint: "/ws", Body: "<GetUser><id>{{ params.id }}</id></GetUser>"}},
		{name: "not closed", op: config.SOAPOperation{Endpoint: "/ws", Body: "<GetUser><id>{{ params.id }}</GetUser>"}, want: "body: not well-formed"},
		{name: "DTD", op: config.SOAPOperation{Endpoint: "/ws", Body: "<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"}, want: "a DTD"},
		{name: "param", op: config.SOAPOperation{Endpoint: "/ws", Body: "<x>{{ params.other }}</x>"}, want: "not every path pattern"},
		{name: "endpoint", op: config.SOAPOperation{Endpoint: "ws", Body: "<x/>"}, want: "must be a path"},
		{name: "action", op: config.SOAPOperation{Endpoint: "/ws", Action: `a"b`, Body: "<x/>"}, want: "holds a quote"},
	} {
		_, path, err := compile(&tc.op, ctx)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(path[0]+": "+err.Error(), tc.want) {
			t.Errorf("%s: want %q, got %v %v", tc.name, tc.want, path, err)
		}
	}
}

func TestReply(t *testing.T) {
	reply := `<?xml version="1.0"?><s:Envelope xmlns:s="` + ns11 + `"><s:Body>
<GetUserResponse xmlns="urn:users"><user id="u1"><name>Ada</name><role>admin</role><role>ops</role></user></GetUserResponse>
</s:Body></s:Envelope>`
	root, err := parse([]byte(reply))
	if err != nil {
		t.Fatal(err)
	}
	body, err := envelopeBody(root, false)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(body.first().child("user").value())
	if string(got) != `{"@id":"u1","name":"Ada","role":["admin","ops"]}` {
		t.Fatalf("%s", got)
	}
	if _, err := envelopeBody(root, true); err == nil {
		t.Fatal("a 1.1 envelope read as 1.2")
	}
	for _, bad := range []string{
		`<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>`,
		strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100),
		`<a></b>`,
		`<a/><b/>`,
	} {
		if _, err := parse([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	f11, _ := parse([]byte(`<Fault><faultcode>soap:Client.Auth</faultcode><faultstring>bad id</faultstring></Fault>`))
	if client, msg := fault(f11, false); !client || msg != "bad id" {
		t.Errorf("1.1 fault: %v %q", client, msg)
	}
	f12, _ := parse([]byte(`<Fault><Code><Value>env:Receiver</Value></Code><Reason><Text>db down</Text></Reason></Fault>`))
	if client, msg := fault(f12, true); client || msg != "db down" {
		t.Errorf("1.2 fault: %v %q", client, msg)
	}
}
