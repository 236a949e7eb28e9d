package bodyguard

import (
	"strings"
	"testing"
)

func TestCheckXML(t *testing.T) {
	lim := XMLLimits{MaxDepth: 4, MaxElements: 20, MaxAttributes: 2, MaxText: 32}
	billionLaughs := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`
	xxe := `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>`
	for _, tc := range []struct{ name, body, where, msg string }{
		{"good", `<?xml version="1.0" encoding="UTF-8"?><order id="1"><item sku="a">2</item><item sku="b">1</item></order>`, "", ""},
		{"namespaces", `<o:order xmlns:o="urn:x"><o:item/></o:order>`, "", ""},
		{"billion laughs", billionLaughs, "/", "a DTD"},
		{"xxe", xxe, "/", "a DTD"},
		{"xinclude", `<foo xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include parse="text" href="file:///etc/passwd"/></foo>`, "/foo", "XInclude"},
		{"xinclude, default namespace", `<foo><include xmlns="http://www.w3.org/2001/XInclude" href="http://169.254.169.254/"/></foo>`, "/foo", "XInclude"},
		{"xinclude, 2003 draft", `<x:include xmlns:x="http://www.w3.org/2003/XInclude" href="a"/>`, "/", "XInclude"},
		{"an element named include elsewhere", `<o:include xmlns:o="urn:orders">1</o:include>`, "", ""},
		{"undeclared entity", `<a>&nope;</a>`, "/a", "malformed XML"},
		{"too deep", `<a><b><c><d><e/></d></c></b></a>`, "/a/b/c/d/e", "nested deeper than 4"},
		{"too many elements", "<a>" + strings.Repeat("<b/>", 20) + "</a>", "/a/b[20]", "more than 20 elements"},
		{"too many attributes", `<a x="1" y="2" z="3"/>`, "/a", "more than 2 attributes"},
		{"long text", "<a><b>" + strings.Repeat("x", 40) + "</b></a>", "/a/b", "text is longer than 32"},
		{"mismatched", `<a><b></a>`, "/a/b", "malformed XML"},
		{"two roots", `<a/><b/>`, "/", "more than one root"},
		{"no element", ``, "/", "no XML element"},
		{"truncated", `<a><b>`, "/a/b", "malformed XML"},
	} {
		v := CheckXML([]byte(tc.body), lim)
		switch {
		case tc.msg == "" && v != nil:
			t.Errorf("%s: %v", tc.name, v)
		case tc.msg != "" && (v == nil || v.Pointer != tc.where || !strings.Contains(v.Message, tc.msg)):
			t.Errorf("%s: %v, want %s: %s", tc.name, v, tc.where, tc.msg)
		}
	}
}

func FuzzCheckXML(f *testing.F) {
	for _, s := range []string{`<a x="1"><b>t</b></a>`, `<!DOCTYPE a><a/>`, `<a>&amp;</a>`, `<a><b></a>`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = CheckXML(body, XMLLimits{MaxDepth: 8, MaxElements: 100, MaxAttributes: 4, MaxText: 64})
	})
}
