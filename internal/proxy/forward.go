package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rampart-gw/rampart/internal/grpcwire"
	"github.com/rampart-gw/rampart/internal/guard"
	"github.com/rampart-gw/rampart/internal/observe"
	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/reqctx"
	"github.com/rampart-gw/rampart/internal/route"
)

// Forwarder is the last stage of a route: it sends the request to the
// route's pool and streams the answer back.
type Forwarder struct {
	Pool *Pool
	// Rewrite maps the matched path to the upstream path; nil keeps it.
	Rewrite func(path string, m *route.Match) string
	// Host is the Host header sent upstream: "" for the target's
	// host:port, PreserveHost for the client's, or a literal.
	Host string
}

// PreserveHost makes the Forwarder send the client's Host header.
const PreserveHost = "preserve"

// failure classifies why an attempt failed.
type failure uint8

const (
	failNone    failure = iota
	failConnect         // nothing was sent
	failReset           // the connection broke before a response
	failTimeout         // no response headers in time
	failInvalid         // the response head was over the limit or malformed
	failOther
)

// attemptOutcome is the failure as passive health counts it.
func (f failure) attemptOutcome() attemptOutcome {
	if f == failConnect {
		return connectFailed
	}
	return errored
}

// String names the failure for rampart_upstream_errors_total.
func (f failure) String() string {
	switch f {
	case failConnect:
		return "connect"
	case failReset:
		return "reset"
	case failTimeout:
		return "timeout"
	case failInvalid:
		return "invalid_response"
	}
	return "other"
}

// StatusClientClosed is logged when the client went away first (nginx's 499).
const StatusClientClosed = guard.StatusClientClosed

// trackedBody remembers whether the transport read from the request body,
// and whether reading it failed (the client's fault, never the
// upstream's), and keeps the transport from closing the client's body, so
// an attempt that failed before sending anything can be retried with the
// same body. net/http's Transport reads it on a goroutine of its own.
type trackedBody struct {
	io.ReadCloser
	read atomic.Bool // set before the transport reads; a transport may read on after RoundTrip returns
	mu   sync.Mutex
	err  error // the first read error other than io.EOF
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

// failed returns the error reading the client's body, if any.
func (b *trackedBody) failed() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *trackedBody) Close() error { return nil } // the server closes the inbound body

// ServeHTTP implements http.Handler.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := reqctx.From(r.Context())
	p := f.Pool
	st.Upstream = p.Name
	ctx := r.Context()
	if p.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	path := r.URL.Path
	if f.Rewrite != nil {
		path = f.Rewrite(path, &st.Match)
	}
	hd := newHead(r, st)
	var body *trackedBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &trackedBody{ReadCloser: r.Body}
	}
	idempotent := isIdempotent(r.Method)
	now := time.Now()
	p.budget.Request(now)

	// active is the target of the attempt in flight. Its count is given
	// back on every path out, a panic included (an upstream that breaks
	// mid-body aborts the response with http.ErrAbortHandler).
	var active *Target
	release := func() {
		if active != nil {
			active.inFlight.Add(-1)
			active = nil
		}
	}
	defer release()

	var tried uint64
	var lastFail failure
	for attempt := 0; ; attempt++ {
		t := p.pickAllowed(r, st, &tried, now)
		if t == nil {
			if attempt > 0 {
				f.fail(w, r, st, lastFail)
				return
			}
			p.refuseUnavailable(w, r)
			return
		}
		st.Attempts = attempt + 1
		st.UpstreamTarget = t.URL.Host
		out := newOutbound(ctx, r, t, path, body)
		switch f.Host {
		case "":
		case PreserveHost:
			out.Host = r.Host
		default:
			out.Host = f.Host
		}
		active = t
		t.inFlight.Add(1)
		start := time.Now()
		res, err := p.transport.RoundTrip(out, hd)
		st.UpstreamTime = time.Since(start)
		if p.observer != nil {
			p.observer.Observe(st.UpstreamTime.Seconds())
		}
		if err != nil {
			release()
			if berr := body.failed(); berr != nil || st.BodyTooLarge || st.BodyTimedOut {
				// The client's body broke off, broke its framing or
				// went over a limit: the upstream is not to blame.
				guard.RefuseBodyError(w, r, berr)
				return
			}
			if r.Context().Err() != nil && !deadlinePassed(r) {
				// The client went away (or half-closed, which net/http's
				// server takes for the same): nothing is answered, or
				// the server would send an empty 200 for a request that
				// never reached the upstream.
				st.Status = StatusClientClosed
				panic(http.ErrAbortHandler)
			}
			lastFail = classify(err, ctx)
			p.upstreamError(lastFail.String())
			if rej, ok := errors.AsType[*guard.ResponseError](err); ok {
				// A response the codec refuses (two Content-Lengths, a
				// folded header...) may be an attempt to split responses:
				// it is named in the access log and as an event.
				st.UpstreamError = rej.Reason
				st.Events.Publish(observe.Event{Type: "upstream.error", Reason: rej.Reason, Stage: "proxy",
					Detail:    "The upstream's response was refused and the connection closed: " + rej.Detail + ".",
					RequestID: st.RequestID, Route: st.Route, ClientIP: st.ClientIP.String(), Method: r.Method, Path: r.URL.Path})
			}
			t.report(time.Now(), lastFail.attemptOutcome())
			if p.mayRetry(attempt, lastFail, 0, idempotent, body) {
				continue
			}
			f.fail(w, r, st, lastFail)
			return
		}
		st.UpstreamStatus = res.StatusCode
		failed := res.StatusCode >= 500
		if failed {
			t.report(time.Now(), status5xx)
		} else {
			t.report(time.Now(), succeeded)
		}
		if failed && p.mayRetry(attempt, failNone, res.StatusCode, idempotent, body) {
			drain(res.Body)
			release()
			continue
		}
		f.respond(w, r, st, res, t, body)
		return
	}
}

// pickAllowed picks a target whose breaker admits the request, marking
// every target it considers as tried.
func (p *Pool) pickAllowed(r *http.Request, st *reqctx.State, tried *uint64, now time.Time) *Target {
	for range len(p.targets) {
		i := p.bal.pick(p.targets, r, st.ClientIP, *tried, now)
		if i < 0 {
			return nil
		}
		if i < 64 {
			*tried |= 1 << i
		}
		t := p.targets[i]
		if t.breaker == nil || t.breaker.Allow(now) {
			return t
		}
	}
	return nil
}

func (p *Pool) mayRetry(attempt int, f failure, status int, idempotent bool, body *trackedBody) bool {
	rp := &p.retry
	if attempt >= rp.attempts {
		return false
	}
	bodySent := body != nil && body.read.Load()
	switch {
	case f == failConnect:
		// Nothing reached the upstream: safe for any method.
		if !rp.connect || bodySent {
			return false
		}
	case f == failReset && rp.reset, f == failTimeout && rp.timeout,
		f == failNone && status >= 500 && rp.statuses[status-500]:
		if !(idempotent || rp.nonIdempotent) || bodySent {
			return false
		}
	default:
		return false
	}
	if !p.budget.TryRetry(time.Now()) {
		if p.onRetry != nil {
			p.onRetry(p.Name, "budget_exhausted")
		}
		return false
	}
	if p.onRetry != nil {
		p.onRetry(p.Name, "done")
	}
	return true
}

func isIdempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

func classify(err error, ctx context.Context) failure {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return failTimeout
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return failConnect
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return failTimeout
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE) {
		return failReset
	}
	var pe *textproto.ProtocolError
	if isResponseError(err) || errors.As(err, &pe) || strings.Contains(err.Error(), "malformed HTTP") ||
		strings.Contains(err.Error(), "server response headers exceeded") {
		return failInvalid
	}
	return failOther
}

func (f *Forwarder) fail(w http.ResponseWriter, r *http.Request, st *reqctx.State, why failure) {
	if why == failTimeout {
		reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.GatewayTimeout, Reason: "upstream_timeout", Stage: "proxy",
			Detail: "The upstream service did not answer in time. Retry later; if it persists, report the request id to the API operator."})
		return
	}
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.BadGateway, Reason: "upstream_error", Stage: "proxy",
		Detail: "The upstream service could not be reached or broke the connection. Retry later; if it persists, report the request id to the API operator."})
}

// upstreamError counts an upstream failure of kind.
func (p *Pool) upstreamError(kind string) {
	if p.onError != nil {
		p.onError(p.Name, kind)
	}
}

func (p *Pool) refuseUnavailable(w http.ResponseWriter, r *http.Request) {
	retry := time.Second
	now := time.Now()
	for _, t := range p.targets {
		if at := t.availableAt(); at.After(now) {
			if d := at.Sub(now); retry == time.Second || d < retry {
				retry = d
			}
		}
	}
	secs := min(max(int(retry.Seconds()+0.999), 1), 300)
	reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.NoHealthyUpstream, Reason: "no_healthy_upstream", Stage: "proxy",
		Detail: "No healthy instance of the service is available right now. Retry after the number of seconds in Retry-After.",
		Header: map[string]string{"Retry-After": strconv.Itoa(secs)}})
}

// newOutbound returns the upstream request of an attempt, without its
// header: the transport writes the head, or sets it as a map.
func newOutbound(ctx context.Context, r *http.Request, t *Target, path string, body *trackedBody) *http.Request {
	out := &http.Request{
		Method:        r.Method,
		URL:           &url.URL{Scheme: t.URL.Scheme, Host: t.URL.Host, Path: path, RawPath: rawPath(r, path), RawQuery: r.URL.RawQuery},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		ContentLength: r.ContentLength,
		Host:          t.URL.Host,
	}
	if body != nil {
		out.Body = body
	}
	return out.WithContext(ctx)
}

// RemoveHopHeaders deletes hop-by-hop headers, including those named in
// Connection, from h.
func RemoveHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	if len(h) < len(guard.HopByHop) {
		// A response usually has fewer fields than the list has names:
		// comparing its keys costs less than hashing every name.
		for k := range h {
			if slices.Contains(guard.HopByHop, k) {
				delete(h, k)
			}
		}
		return
	}
	for _, k := range guard.HopByHop {
		delete(h, k)
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	body.Close()
}

func (f *Forwarder) respond(w http.ResponseWriter, r *http.Request, st *reqctx.State, res *http.Response, t *Target, body *trackedBody) {
	defer res.Body.Close()
	if res.StatusCode == http.StatusSwitchingProtocols {
		f.upgrade(w, r, st, res)
		return
	}
	dst := w.Header()
	RemoveHopHeaders(res.Header)
	for k, vs := range res.Header {
		dst[k] = vs
	}
	for _, f := range st.ResponseFilters {
		f(dst, st)
	}
	if len(res.Trailer) > 0 {
		names := make([]string, 0, len(res.Trailer))
		for k := range res.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(res.StatusCode)
	call := grpcwire.KindOf(r) != grpcwire.NotCall && grpcwire.IsGRPC(res.Header.Get("Content-Type"))
	flush := call || res.ContentLength == -1 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream")
	if err := copyBody(w, res.Body, flush); err != nil {
		if err == reqctx.ErrResponseReplaced {
			return // a stage answered instead; its answer is complete
		}
		if call {
			f.endCall(w, r, st, err, body, t)
			return
		}
		if r.Context().Err() != nil {
			// Returning would end a chunked body as if it were whole.
			st.Status = StatusClientClosed
			panic(http.ErrAbortHandler)
		}
		if err != errClientWrite {
			// The upstream broke off its body (shorter than its
			// Content-Length, a broken chunk): the status it sent is
			// logged, marked as an upstream failure.
			st.UpstreamError = "truncated_response"
			f.Pool.upstreamError(st.UpstreamError)
			t.report(time.Now(), errored)
			st.Events.Publish(observe.Event{Type: "upstream.error", Reason: st.UpstreamError, Stage: "proxy", Status: res.StatusCode,
				Detail:    "The upstream's response body ended before its framing said it would; the client got a cut-off body.",
				RequestID: st.RequestID, Route: st.Route, ClientIP: st.ClientIP.String(), Method: r.Method, Path: r.URL.Path})
		}
		// The status line is gone: the only honest signal left is to
		// break the connection so the client sees a truncated body.
		panic(http.ErrAbortHandler)
	}
	for k, vs := range res.Trailer {
		// prefixed, a trailer goes out whether or not it was announced
		// (gRPC servers announce theirs in no Trailer header)
		dst[http.TrailerPrefix+k] = vs
	}
}

// deadlinePassed reports whether r's deadline (a gRPC call's) has passed:
// its context ended at the deadline rather than with the client, or the
// clock is past it and the context's timer has yet to fire (the upstream,
// given the same deadline, may end the call a moment before it does).
func deadlinePassed(r *http.Request) bool {
	ctx := r.Context()
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return true
	}
	return errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// endCall ends a gRPC call whose response broke off: the client gets the
// status that says why as the call's trailers, where an HTTP response
// could only be cut.
func (f *Forwarder) endCall(w http.ResponseWriter, r *http.Request, st *reqctx.State, err error, body *trackedBody, t *Target) {
	var br guard.BodyRefusal
	switch {
	case err == errClientWrite || r.Context().Err() != nil && !deadlinePassed(r):
		st.Status = StatusClientClosed
		panic(http.ErrAbortHandler)
	case errors.As(body.failed(), &br):
		reqctx.RefuseInCall(w, r, br.Refusal())
	case deadlinePassed(r):
		reqctx.RefuseInCall(w, r, reqctx.Refusal{Type: problem.GatewayTimeout, Reason: "deadline_exceeded", Stage: "proxy",
			Detail: "The call's deadline passed before the upstream service finished it."})
	default:
		st.UpstreamError = "truncated_response"
		f.Pool.upstreamError(st.UpstreamError)
		t.report(time.Now(), errored)
		reqctx.RefuseInCall(w, r, reqctx.Refusal{Type: problem.BadGateway, Reason: "upstream_error", Stage: "proxy",
			Detail: "The upstream service broke off the call. Retry; if it persists, report the request id to the API operator."})
	}
}

// errClientWrite marks a failure to write to the client.
var errClientWrite = errors.New("write to client failed")

func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	rc := http.NewResponseController(w)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				if werr == reqctx.ErrResponseReplaced {
					return werr
				}
				return errClientWrite
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

func (f *Forwarder) upgrade(w http.ResponseWriter, r *http.Request, st *reqctx.State, res *http.Response) {
	back, ok := res.Body.(io.ReadWriteCloser)
	if !ok || st.Upgrade == "" || !strings.EqualFold(res.Header.Get("Upgrade"), st.Upgrade) {
		f.fail(w, r, st, failOther)
		return
	}
	defer back.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		f.fail(w, r, st, failOther)
		return
	}
	defer conn.Close()
	// The server's read deadline (slow-body guard) must not end the
	// upgraded stream.
	_ = conn.SetDeadline(time.Time{})
	st.Status = http.StatusSwitchingProtocols
	res.Body = nil
	if err := res.Write(brw); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	// The 101 is relayed: only now may the client's connection stop
	// being read as HTTP/1.1 (the gateway's wire guard holds what the
	// client sent after the upgrade request until it is told).
	if tc, ok := conn.(interface{ Tunnel() }); ok {
		tc.Tunnel()
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(back, brw); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, back); done <- struct{}{} }()
	pending := 2
	select {
	case <-done:
		pending--
	case <-r.Context().Done():
	}
	// Closing both ends ends the other copy; wait for it so no goroutine
	// outlives the request.
	conn.Close()
	back.Close()
	for ; pending > 0; pending-- {
		<-done
	}
}

// rawPath keeps the client's (normalised) escaping of the path, such as
// an allowed %2F, when the route did not rewrite it.
func rawPath(r *http.Request, path string) string {
	if path == r.URL.Path {
		return r.URL.RawPath
	}
	return ""
}
