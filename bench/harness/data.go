package main

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

// The data scenarios' policies and routes: masking three detectors
// (email, phone, card) in the backend's 16 KiB responses, and encrypting
// three fields (two strings and an object) of the 1 KiB JSON order.
const (
	dataPolicies = `  mask: {authenticate: [], response: {mask: [email, phone, card]}}
  encrypt: {authenticate: [], request: {encrypt_fields: [customer.email, customer.name, shipping], keyset: bench}}
`
	dataRoutes = `  - {name: mask, match: {paths: ["/mask/**"]}, upstream: backend, policy: mask, rewrite: {strip_prefix: /mask}}
  - {name: encrypt, match: {paths: ["/enc/**"]}, upstream: backend, policy: encrypt, rewrite: {strip_prefix: /enc}}
`
)

// dataTop is the data scenarios' top-level config: the keyset, its key
// in a file.
func dataTop(dir string) string {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	file := writeFile(dir, "bench.key", base64.StdEncoding.EncodeToString(key))
	return fmt.Sprintf("keysets:\n  bench: {primary: k1, keys: [{id: k1, secret: \"file:%s\"}]}\n", file)
}

// dataTable measures the data-protection scenarios against the plain
// proxy, wrk, interleaved rounds: GET of a 16 KiB JSON page of orders (an
// email address and a phone number in each of 24 orders: 48 values to
// mask), and of a 16 KiB customer list as dense with personal data as a
// response gets (about 200 values).
func dataTable(env *env, rounds int, dur, warm time.Duration) {
	rows := []struct{ name, url string }{
		{"direct", env.direct.plain + "/orders"},
		{"plain proxy", env.rampart.plain + "/orders"},
		{"mask", env.rampart.plain + "/mask/orders"},
		{"plain proxy, dense", env.rampart.plain + "/customers"},
		{"mask, dense", env.rampart.plain + "/mask/customers"},
	}
	names := make([]string, len(rows))
	for i, rw := range rows {
		names[i] = rw.name
	}
	all := interleave("data", names, rounds, warm, func(i int, d time.Duration) (result, error) {
		return wrk(rows[i].url, cmp.Or(d, dur), 50, "")
	})
	fmt.Printf("\nData protection, GET 16 KiB JSON (orders: 48 values to mask; dense: a customer list, about 200), keep-alive, wrk, %d rounds of %v, medians:\n\n", rounds, dur)
	throughputTable(names, all)
	if plain := median(all["plain proxy"]).rps; plain > 0 {
		fmt.Printf("\nmask: costs %.1f%% of plain-proxy throughput (target under 15%%)\n", 100*(1-median(all["mask"]).rps/plain))
	}
	if dense := median(all["plain proxy, dense"]).rps; dense > 0 {
		fmt.Printf("mask, dense: costs %.1f%% of plain-proxy throughput on the same response\n", 100*(1-median(all["mask, dense"]).rps/dense))
	}

	// Field encryption: the 1 KiB JSON order POSTed, three of its fields
	// encrypted on the way.
	script := writeFile(env.dir, "data-order.lua", fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", orderBody()))
	enc := []struct{ name, url string }{
		{"plain proxy, POST", env.rampart.plain + "/items"},
		{"encrypt", env.rampart.plain + "/enc/items"},
	}
	encNames := []string{enc[0].name, enc[1].name}
	encAll := interleave("encrypt", encNames, rounds, warm, func(i int, d time.Duration) (result, error) {
		return wrk(enc[i].url, cmp.Or(d, dur), 50, script)
	})
	fmt.Printf("\nField encryption, POST 1 KiB JSON order, three fields encrypted (JWE dir+A256GCM), keep-alive, wrk, %d rounds of %v, medians:\n\n", rounds, dur)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\tratio to plain proxy\t")
	base := median(encAll[enc[0].name]).rps
	for _, rw := range enc {
		m := median(encAll[rw.name])
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t\n", rw.name, m.rps, ms(m.p50), ms(m.p99), ratio(m.rps, base))
	}
	tw.Flush()
	fmt.Fprintln(os.Stderr, "done: data")
}
