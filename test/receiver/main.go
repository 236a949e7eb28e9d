// Command receiver is the HTTP event receiver of the end-to-end tests: a
// separate process, as a SIEM's collector would be. Each POST's body is
// appended to -out as one JSON line {"auth": ..., "body": ...}; with -hang
// it accepts connections and never answers, as a dead collector behind a
// load balancer does.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	out := flag.String("out", "received.jsonl", "where bodies go")
	hang := flag.Bool("hang", false, "never answer")
	flag.Parse()
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *hang {
			<-r.Context().Done()
			return
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			return
		}
		line, _ := json.Marshal(map[string]string{"auth": r.Header.Get("Authorization"), "body": string(b)})
		mu.Lock()
		_, _ = f.Write(append(line, '\n'))
		mu.Unlock()
	})
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "receiver listening on %s\n", l.Addr())
	log.Fatal((&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(l))
}
