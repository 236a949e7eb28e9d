// Package echo is the built-in upstream of `rampart demo` and of the
// tests and benchmark: it answers with what it received.
package echo

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Reply is the JSON body of an echo.
type Reply struct {
	Method    string            `json:"method"`
	Path      string            `json:"path"`
	Query     string            `json:"query,omitempty"`
	Host      string            `json:"host"`
	Headers   map[string]string `json:"headers"`
	BodyBytes int64             `json:"body_bytes"`
	Server    string            `json:"server,omitempty"`
}

// Handler returns the echo upstream. name, if set, is reported in every
// reply and the X-Upstream header, so tests can tell targets apart.
//
//	/health         200
//	/status/{code}  answers with that status
//	/delay/{ms}     waits, then echoes
//	/bytes/{n}      n bytes of body
//	/sse            three server-sent events, 50ms apart
//	/ws             a raw upgrade (websocket) that echoes bytes back
//	/customers/{id} a customer record full of personal data (JSON; .txt: text)
//	/mirror         answers with the request's body and Content-Type
//	anything else   echoes method, path, headers and body size
func Handler(name string) http.Handler {
	small := []byte(`{"ok":true}` + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name != "" {
			w.Header().Set("X-Upstream", name)
		}
		p := r.URL.Path
		switch {
		case p == "/health" || strings.HasSuffix(p, "/health"):
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(small)
			return
		case strings.HasPrefix(p, "/status/"):
			code, err := strconv.Atoi(strings.TrimPrefix(p, "/status/"))
			if err != nil || code < 200 || code > 599 {
				code = 400
			}
			w.WriteHeader(code)
			return
		case strings.HasPrefix(p, "/delay/"):
			ms, _ := strconv.Atoi(strings.TrimPrefix(p, "/delay/"))
			select {
			case <-time.After(time.Duration(min(ms, 60_000)) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		case strings.HasPrefix(p, "/bytes/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(p, "/bytes/"))
			n = min(max(n, 0), 64<<20)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(n))
			buf := make([]byte, 32<<10)
			for n > 0 {
				k := min(n, len(buf))
				if _, err := w.Write(buf[:k]); err != nil {
					return
				}
				n -= k
			}
			return
		case p == "/sse":
			sse(w, r)
			return
		case p == "/ws":
			websocket(w, r)
			return
		case p == "/small":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(small)
			return
		case p == "/anything":
			// httpbin's: the request, its body included, as JSON.
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"method": r.Method, "path": p, "query": r.URL.RawQuery, "data": string(b)})
			return
		case p == "/response-headers":
			// httpbin's: each query parameter as a response header.
			q := r.URL.Query()
			for k, vs := range q {
				for _, v := range vs {
					w.Header().Add(k, v)
				}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(q)
			return
		case p == "/mirror":
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				return
			}
			w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
			_, _ = w.Write(b)
			return
		case strings.HasPrefix(p, "/customers/"):
			customer(w, strings.TrimPrefix(p, "/customers/"))
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		rep := Reply{Method: r.Method, Path: p, Query: r.URL.RawQuery, Host: r.Host, BodyBytes: n, Server: name, Headers: map[string]string{}}
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rep.Headers[k] = strings.Join(r.Header[k], ", ")
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	})
}

// customer answers with a made-up customer record of the kind response
// filters are for: contact details, a card, an IBAN, a national id,
// internal fields and a password hash.
func customer(w http.ResponseWriter, id string) {
	if text, ok := strings.CutSuffix(id, ".txt"); ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Customer %s: Jane Doe <jane.doe@example.com>, phone +44 20 7946 0958, card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, SSN 078-05-1120, last login from 192.0.2.44.\n", text)
		return
	}
	rec := map[string]any{
		"id": id, "name": "Jane Doe", "email": "jane.doe@example.com", "phone": "+44 20 7946 0958",
		"ssn": "078-05-1120", "card": "4111 1111 1111 1111", "iban": "GB82 WEST 1234 5698 7654 32",
		"note":     "Order ORD-20261124 was paid; receipt sent to jane.doe@example.com.",
		"account":  map[string]any{"login": "jane", "password": "$2a$10$N9qo8uLOickgx2ZMRZoMye", "last_ip": "192.0.2.44"},
		"internal": map[string]any{"risk_score": 0.12, "crm_id": "CRM-7781"},
		"orders": []map[string]any{
			{"id": "ORD-20261124", "total": 42.5, "internal_cost": 17.2},
			{"id": "ORD-20261101", "total": 12.0, "internal_cost": 4.9},
		},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rec)
}

func sse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(w, "id: %d\ndata: tick %d at %s\n\n", i, i, time.Now().Format(time.RFC3339Nano))
		if rc.Flush() != nil {
			return
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
}

// websocket accepts any upgrade to "websocket" and echoes raw bytes: a
// stand-in that shows the gateway passes upgraded connections through.
func websocket(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	_ = brw.Flush()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	rd := bufio.NewReader(brw)
	buf := make([]byte, 4096)
	for {
		n, err := rd.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
