// Command backend is the benchmark's upstream: the same process serves the
// direct baseline and sits behind Rampart and nginx. It answers any GET with
// a small JSON body and any POST by reading the body and answering the same.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	plain := flag.String("listen", "127.0.0.1:0", "cleartext address")
	tlsAddr := flag.String("tls", "", "TLS address (h2 and HTTP/1.1)")
	cert := flag.String("cert", "", "certificate file")
	key := flag.String("key", "", "key file")
	grpcAddr := flag.String("grpc", "", "gRPC (h2c) address: the interop TestService's unary call")
	jwksFile := flag.String("jwks", "", "a JWKS file to serve at /.well-known/jwks.json (the security scenarios' IdP keys)")
	flag.Parse()
	var jwks []byte
	if *jwksFile != "" {
		var err error
		if jwks, err = os.ReadFile(*jwksFile); err != nil {
			log.Fatal(err)
		}
	}
	body := []byte(`{"items":[{"id":1,"name":"widget"},{"id":2,"name":"gadget"}],"page":2}` + "\n")
	customers, orders := customerList(), orderList()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		if jwks != nil && r.URL.Path == "/.well-known/jwks.json" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwks)
			return
		}
		out := body
		switch r.URL.Path {
		case "/customers":
			out = customers
		case "/orders":
			out = orders
		}
		hd := w.Header()
		hd["Content-Type"] = []string{"application/json"}
		hd["Content-Length"] = []string{strconv.Itoa(len(out))}
		_, _ = w.Write(out)
	})
	if *grpcAddr != "" {
		serveGRPC(*grpcAddr)
	}
	l, err := net.Listen("tcp", *plain)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "backend http %s\n", l.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second}
	if *tlsAddr != "" {
		tl, err := net.Listen("tcp", *tlsAddr)
		if err != nil {
			log.Fatal(err)
		}
		crt, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "backend https %s\n", tl.Addr())
		tsrv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 120 * time.Second,
			TLSConfig: &tls.Config{Certificates: []tls.Certificate{crt}, MinVersion: tls.VersionTLS12}}
		go func() { log.Fatal(tsrv.ServeTLS(tl, "", "")) }()
	}
	log.Fatal(srv.Serve(l))
}

// orderList is the mask scenario's response: 16 KiB of JSON, a page of
// orders of the kind a shop's API returns, each with the customer's email
// address and a delivery phone number among ids, amounts, dates, an
// address and order lines.
func orderList() []byte {
	var b []byte
	b = append(b, `{"page":1,"per_page":20,"orders":[`...)
	for i := 1; len(b) < 16<<10-600; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":"ord_%06d","status":"shipped","created_at":"2026-11-%02dT09:%02d:00Z","currency":"GBP",`+
			`"customer":{"id":"cus_%05d","name":"Customer %d","email":"customer%d@example.com"},`+
			`"shipping":{"name":"Customer %d","street":"%d Harbour Road","city":"Bristol","postcode":"BS1 5DB","country":"GB","phone":"+44 20 7946 %04d"},`+
			`"lines":[{"sku":"WID-%04d","name":"Widget, brushed steel","quantity":%d,"unit_price":12.50},`+
			`{"sku":"GAD-%04d","name":"Gadget, matt black","quantity":1,"unit_price":24.00},`+
			`{"sku":"SHP-0001","name":"Standard delivery","quantity":1,"unit_price":3.95}],`+
			`"totals":{"subtotal":%d.45,"tax":%d.29,"total":%d.74},"payment":{"method":"card","brand":"visa","last4":"1111"}}`,
			i, 1+i%28, i%60, i*7, i, i, i, i, i, i*37, 1+i%5, i*11, 40+i%5, 8+i%5, 48+i%5)
	}
	b = append(b, "]}\n"...)
	return b
}

// customerList is the mask scenario's dense response: 16 KiB of JSON, a page of
// customers, each with an email address and a phone number, every tenth
// with a card on file, among fields with nothing to mask.
func customerList() []byte {
	var b []byte
	b = append(b, `{"page":1,"customers":[`...)
	for i := 1; len(b) < 16<<10-300; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"id":"c-%05d","name":"Customer %d","email":"customer%d@example.com","phone":"+44 20 7946 %04d",`+
			`"city":"Bristol","tier":"gold","orders":%d,"created":"2026-01-15T10:00:00Z"`, i, i, i, i, i%40)
		if i%10 == 0 {
			b = append(b, `,"card":"4111 1111 1111 1111"`...)
		}
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	return b
}
