package gateway

import (
	"bufio"
	"net"
	"net/http"
)

// recorder notes the status and size of the response for the access log
// and metrics. Unwrap lets http.ResponseController reach Flush, Hijack and
// deadlines of the server's writer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	// requestID backs the response's X-Request-Id values: one
	// allocation fewer a request.
	requestID [1]string
}

func (w *recorder) WriteHeader(code int) {
	if w.status == 0 || (w.status < 200 && code >= 200) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher for handlers that assert it.
func (w *recorder) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker for handlers that assert it.
func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
