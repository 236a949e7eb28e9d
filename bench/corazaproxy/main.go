// Command corazaproxy is the WAF scenario's baseline: a Go reverse proxy
// with stock Coraza and the OWASP CRS at paranoia 1, wired the way
// Coraza's documentation shows (its net/http middleware, the recommended
// configuration with the rule engine on, the CRS setup as shipped). It is
// built only by `make bench`, from the same Coraza and CRS versions as
// Rampart, and takes no tuning of Rampart's.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	txhttp "github.com/corazawaf/coraza/v3/http"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	backend := flag.String("backend", "", "http://host:port")
	flag.Parse()
	u, err := url.Parse(*backend)
	if err != nil || u.Host == "" {
		log.Fatalf("-backend: %q", *backend)
	}
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(`
Include @coraza.conf-recommended
SecRuleEngine On
Include @crs-setup.conf.example
Include @owasp_crs/*.conf
`))
	if err != nil {
		log.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "corazaproxy http %s\n", l.Addr())
	srv := &http.Server{Handler: txhttp.WrapHandler(waf, proxy), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(l))
}
