package main

import (
	"cmp"
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

// functionRoutes are the gateway-function scenarios' routes: the small
// GET kept by the response cache, and the 1 KiB JSON order POSTed through
// a transform that edits the request's headers and body and the
// response's headers and body.
const functionRoutes = `  - {name: cached, match: {paths: ["/cached/**"]}, upstream: backend, policy: public, rewrite: {strip_prefix: /cached}, cache: {ttl: 60s}}
  - name: transformed
    match: {paths: ["/tx/**"]}
    upstream: backend
    policy: public
    rewrite: {strip_prefix: /tx}
    transform:
      request:
        headers: {set: {X-Channel: "partner-{{ route.name }}"}, remove: [X-Debug]}
        body: {set: {source: gateway, "meta.request": "{{ request.id }}"}, remove: [customer.email], rename: {shipping: delivery}}
      response:
        headers: {set: {X-Api-Version: "2"}}
        body: {rename: {page: page_number}, remove: ["items[*].id"]}
`

// functionsTable measures the gateway functions against the plain proxy,
// wrk, interleaved rounds: a cached GET against the same GET proxied (and
// the backend direct), and a transformed POST against the same POST
// proxied.
func functionsTable(env *env, path string, rounds int, dur, warm time.Duration) {
	script := writeFile(env.dir, "functions-order.lua", fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", orderBody()))
	rows := []struct {
		name, url, script string
	}{
		{"direct, GET", env.direct.plain + path, ""},
		{"plain proxy, GET", env.rampart.plain + path, ""},
		{"cached GET", env.rampart.plain + "/cached" + path, ""},
		{"plain proxy, POST", env.rampart.plain + "/items", script},
		{"transformed POST", env.rampart.plain + "/tx/items", script},
	}
	names := make([]string, len(rows))
	for i, rw := range rows {
		names[i] = rw.name
	}
	all := interleave("functions", names, rounds, warm, func(i int, d time.Duration) (result, error) {
		return wrk(rows[i].url, cmp.Or(d, dur), 50, rows[i].script)
	})
	fmt.Printf("\nGateway functions, GET small and POST 1 KiB JSON order, keep-alive, wrk, %d rounds of %v, medians:\n\n", rounds, dur)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50\tp99\tratio to its plain proxy\tper round: median (lowest-highest)\t")
	for i, rw := range rows {
		base := names[1]
		if i >= 3 {
			base = names[3]
		}
		m := median(all[rw.name])
		perRound := "-"
		if med, lo, hi, ok := roundRatios(all[rw.name], all[base]); ok && rw.name != base {
			perRound = fmt.Sprintf("%.2f (%.2f-%.2f)", med, lo, hi)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t\n", rw.name, m.rps, ms(m.p50), ms(m.p99), ratio(m.rps, median(all[base]).rps), perRound)
	}
	tw.Flush()
	if plain := median(all[names[1]]).rps; plain > 0 {
		fmt.Printf("\ncached GET: %.2fx plain-proxy throughput (target at least 1.5x)\n", median(all["cached GET"]).rps/plain)
	}
	if plain := median(all[names[3]]).rps; plain > 0 {
		fmt.Printf("transformed POST: costs %.1f%% of plain-proxy throughput (target under 10%%)\n", 100*(1-median(all["transformed POST"]).rps/plain))
	}
	fmt.Fprintln(os.Stderr, "done: functions")
}
