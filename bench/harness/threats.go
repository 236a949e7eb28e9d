package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// orderBody is the threat scenarios' request: a 1 KiB JSON order of the
// kind an API takes, nested objects and an array included.
func orderBody() string {
	lines := []map[string]any{}
	for i := 1; len(lines) < 6; i++ {
		lines = append(lines, map[string]any{"sku": fmt.Sprintf("WID-%04d", i*37), "name": "Widget, brushed steel", "quantity": i, "unit_price": 12.5 * float64(i)})
	}
	order := map[string]any{
		"customer": map[string]any{"id": "c-8f14e45f", "email": "jane.doe@example.com", "name": "Jane Doe"},
		"shipping": map[string]any{"street": "12 Harbour Road", "city": "Bristol", "postcode": "BS1 5DB", "country": "GB"},
		"lines":    lines,
		"note":     "Please leave the parcel with the neighbour at number 14 if nobody is home.",
		"coupon":   "WINTER-2026",
	}
	b, _ := json.Marshal(order)
	for len(b) < 1024 { // pad the note to 1 KiB exactly
		order["note"] = order["note"].(string) + " Thanks!"
		b, _ = json.Marshal(order)
	}
	return string(b)
}

// orderSpec is the OpenAPI document of the openapi scenarios: POST
// /oas/items and /wafoas/items (paths as the client sends them) with the
// order's schema, strict (no additional properties). With the WAF behind
// it (/wafoas), the fields it proves typed are not read: quantities,
// prices, the trusted sku pattern and the country enum, 19 of 33.
const orderSpec = `openapi: 3.0.3
info: {title: bench orders, version: "1"}
paths:
  /oas/items:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Order"}
      responses:
        "200": {description: ok}
  /wafoas/items:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Order"}
      responses:
        "200": {description: ok}
components:
  schemas:
    Order:
      type: object
      additionalProperties: false
      required: [customer, lines]
      properties:
        customer:
          type: object
          required: [id, email]
          properties:
            id: {type: string, maxLength: 64}
            email: {type: string, format: email}
            name: {type: string, maxLength: 200}
        shipping:
          type: object
          properties:
            street: {type: string}
            city: {type: string}
            postcode: {type: string, maxLength: 16}
            country: {type: string, enum: [GB, IE, FR, DE, US]}
        lines:
          type: array
          maxItems: 100
          items:
            type: object
            required: [sku, quantity]
            properties:
              sku: {type: string, pattern: "^WID-[0-9]{4}$", x-rampart-waf: trusted}
              name: {type: string}
              quantity: {type: integer, minimum: 1}
              unit_price: {type: number, minimum: 0}
        note: {type: string, maxLength: 2000}
        coupon: {type: string}
`

// threatsConfig returns the policies and routes of the waf and openapi
// scenarios, and writes the spec into dir.
func threatsConfig(dir string) (policies, routes string) {
	spec := writeFile(dir, "orders.yaml", orderSpec)
	return `  waf: {authenticate: [], waf: {paranoia: 1}}
  oas: {authenticate: [], validate: {openapi: ` + spec + `, strict: true}}
  wafoas: {authenticate: [], validate: {openapi: ` + spec + `, strict: true}, waf: {paranoia: 1}}
`, `  - {name: waf, match: {paths: ["/waf/**"]}, upstream: backend, policy: waf, rewrite: {strip_prefix: /waf}}
  - {name: oas, match: {paths: ["/oas/**"]}, upstream: backend, policy: oas, rewrite: {strip_prefix: /oas}}
  - {name: wafoas, match: {paths: ["/wafoas/**"]}, upstream: backend, policy: wafoas, rewrite: {strip_prefix: /wafoas}}
`
}

// startCorazaProxy builds and runs the stock-Coraza baseline in front of
// the backend.
func (e *env) startCorazaProxy(backend string) error {
	bin := filepath.Join(e.dir, "corazaproxy")
	if out, err := runCmd("go", "build", "-o", bin, "./bench/corazaproxy"); err != nil {
		return fmt.Errorf("build corazaproxy: %v %s", err, out)
	}
	addr := freePort()
	if _, err := e.start("corazaproxy http", bin, "-listen", addr, "-backend", "http://"+backend); err != nil {
		return err
	}
	e.coraza = "http://" + addr
	return nil
}

// modsecModule and modsecCRS are where Debian installs ModSecurity's
// nginx module and the CRS (3.3.x).
const (
	modsecModule = "/usr/lib/nginx/modules/ngx_http_modsecurity_module.so"
	modsecCRS    = "/usr/share/modsecurity-crs"
)

// modsecConfig returns the nginx directives that load ModSecurity and a
// server on addr that runs the CRS at paranoia 1 in blocking mode before
// proxying to the backend upstream, configured as the CRS documents for
// ModSecurity 3 (the JSON body processor as its recommended setup has
// it); both "" when the packages are not installed.
func modsecConfig(dir, addr string) (load, server string) {
	if _, err := os.Stat(modsecModule); err != nil {
		return "", ""
	}
	if _, err := os.Stat(filepath.Join(modsecCRS, "rules")); err != nil {
		return "", ""
	}
	setup := "/etc/modsecurity/crs/crs-setup.conf"
	if _, err := os.Stat(setup); err != nil {
		setup = filepath.Join(modsecCRS, "crs-setup.conf.example")
	}
	rules := writeFile(dir, "modsec.conf", fmt.Sprintf(`SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 1048576
SecRequestBodyNoFilesLimit 1048576
SecRequestBodyLimitAction ProcessPartial
SecResponseBodyAccess Off
SecAuditEngine Off
SecDebugLogLevel 0
SecTmpDir %[1]s/tmp
SecDataDir %[1]s/tmp
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.'"
Include %[2]s
SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.paranoia_level=1"
Include %[3]s/rules/*.conf
`, dir, setup, modsecCRS))
	return "load_module " + modsecModule + ";\n", fmt.Sprintf(`  server {
    listen %s;
    client_max_body_size 1m;
    client_body_buffer_size 1m;         # bodies in memory, as the WAFs of the other rows hold them
    modsecurity on;
    modsecurity_rules_file %s;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
`, addr, rules)
}

// ticketBody is a 1 KiB JSON body of four fields, one of them prose: the
// WAF's work follows the number of fields (each is a target of every
// ARGS rule) more than the bytes, so the waf scenario is measured on both.
func ticketBody() string {
	b, _ := json.Marshal(map[string]any{
		"title":    "Invoice 2026-114 shows the wrong VAT rate",
		"priority": "normal",
		"tags":     []string{"billing", "invoice"},
		"body":     strings.Repeat("The invoice we received for November lists VAT at twenty percent, but our account is registered for the reduced rate. ", 8),
	})
	return string(b)
}

// threatTable measures the waf and openapi scenarios: a 1 KiB JSON POST
// to the backend directly, through Rampart's plain route, its WAF route
// (CRS paranoia 1), its OpenAPI route and the stock-Coraza proxy; wrk
// closed loop for throughput, then vegeta at a fixed rate for the p99 each
// adds over the plain proxy. The WAF rows are run on two bodies of 1 KiB:
// the order (33 fields) and a ticket (4 fields).
func threatTable(env *env, rounds, rate int, dur, warm time.Duration) {
	type body struct{ script, file string }
	bodies := map[string]body{}
	for name, b := range map[string]string{"order": orderBody(), "ticket": ticketBody()} {
		bodies[name] = body{
			script: writeFile(env.dir, name+".lua", fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", b)),
			file:   writeFile(env.dir, name+".json", b),
		}
	}
	rows := []struct{ name, url, body string }{
		{"direct", env.direct.plain + "/items", "order"},
		{"plain proxy", env.rampart.plain + "/items", "order"},
		{"waf (rampart)", env.rampart.plain + "/waf/items", "order"},
		{"waf (stock coraza)", env.coraza + "/items", "order"},
		{"waf 4 fields (rampart)", env.rampart.plain + "/waf/tickets", "ticket"},
		{"waf 4 fields (stock coraza)", env.coraza + "/tickets", "ticket"},
		{"openapi", env.rampart.plain + "/oas/items", "order"},
		{"openapi + waf (rampart, schema-aware)", env.rampart.plain + "/wafoas/items", "order"},
	}
	if env.modsec != "" {
		rows = append(rows, struct{ name, url, body string }{"waf (nginx + modsecurity)", env.modsec + "/items", "order"},
			struct{ name, url, body string }{"waf 4 fields (nginx + modsecurity)", env.modsec + "/tickets", "ticket"})
	}
	names := make([]string, len(rows))
	for i, rw := range rows {
		names[i] = rw.name
	}
	all := interleave("threats", names, rounds, warm, func(i int, d time.Duration) (result, error) {
		return wrk(rows[i].url, cmp.Or(d, dur), 50, bodies[rows[i].body].script)
	})
	fmt.Printf("\nThreat stages, POST 1 KiB JSON (order: 33 fields; 4 fields: a ticket), keep-alive, wrk, %d rounds of %v, medians:\n\n", rounds, dur)
	throughputTable(names, all)
	for _, pair := range [][2]string{{"waf (rampart)", "waf (stock coraza)"}, {"waf 4 fields (rampart)", "waf 4 fields (stock coraza)"},
		{"openapi + waf (rampart, schema-aware)", "waf (stock coraza)"}} {
		if stock := median(all[pair[1]]).rps; stock > 0 {
			fmt.Printf("\n%s: %.2fx the throughput of the stock-Coraza proxy (target >= 2x)", pair[0], median(all[pair[0]]).rps/stock)
		}
	}
	for _, pair := range [][2]string{{"waf (rampart)", "waf (nginx + modsecurity)"}, {"waf 4 fields (rampart)", "waf 4 fields (nginx + modsecurity)"},
		{"openapi + waf (rampart, schema-aware)", "waf (nginx + modsecurity)"}} {
		if peer := median(all[pair[1]]).rps; peer > 0 {
			fmt.Printf("\n%s: %.2fx the throughput of nginx + ModSecurity + CRS (target >= 3x)", pair[0], median(all[pair[0]]).rps/peer)
		}
	}
	fmt.Println()

	// Every row warms before the first round: an open-loop run needs
	// warm connections from its first request.
	fixed := rows[1:]
	for _, rw := range fixed {
		if warm > 0 {
			_, _ = vegetaPost(env.tools, rw.url, bodies[rw.body].file, rate, warm)
		}
	}
	lat := interleave("threats fixed rate", names[1:], rounds, 0, func(i int, _ time.Duration) (result, error) {
		return vegetaPost(env.tools, fixed[i].url, bodies[fixed[i].body].file, rate, dur)
	})
	fmt.Printf("\nThreat stages at a fixed %d req/s, POST 1 KiB JSON, vegeta, %d rounds of %v, medians:\n\n", rate, rounds, dur)
	addedLatency(names[1:], lat)
	fmt.Fprintln(os.Stderr, "done: threats")
}

// vegetaPost is vegeta with a JSON POST body from a file.
func vegetaPost(tools, url, bodyFile string, rate int, d time.Duration) (result, error) {
	targets := "POST " + url + "\nContent-Type: application/json\n@" + bodyFile + "\n"
	return vegetaTargets(tools, targets, rate, d)
}
