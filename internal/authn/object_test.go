package authn

import "testing"

func TestParseObject(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"a":1,"b":{"a":1}}`, true},
		{`{}`, true},
		{` {"a":"x"} `, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":1}{}`, false},
		{`{"a":1} x`, false},
		{`[]`, false},
		{`"a"`, false},
		{`{"a":}`, false},
		{``, false},
		{`{"a":1`, false},
	} {
		if _, err := ParseObject([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("ParseObject(%q): %v", tc.in, err)
		}
	}
	o, _ := ParseObject([]byte(`{"Active":true,"active":"true","exp":"1","nbf":1.5e9,"s":"x","cnf":{"jkt":"k"}}`))
	if b, err := o.Bool("active"); err == nil || b != nil {
		t.Error(`"true" read as a boolean`)
	}
	if _, _, err := o.Date("exp"); err == nil {
		t.Error("a quoted number read as a date")
	}
	if d, ok, err := o.Date("nbf"); err != nil || !ok || d.Unix() != 1.5e9 {
		t.Errorf("nbf %v %v %v", d, ok, err)
	}
	if c, err := o.Confirmation(); err != nil || c.JKT != "k" {
		t.Errorf("cnf %+v %v", c, err)
	}
	if s, err := o.String("missing"); err != nil || s != "" {
		t.Error("absent member")
	}
}
