package threatintel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Source is where a feed is read from and how.
type Source struct {
	Name       string
	URL        string // https://; or File, or CrowdSec
	File       string // an absolute path
	CrowdSec   *CrowdSec
	Format     string
	Refresh    time.Duration
	Timeout    time.Duration
	MaxBytes   int64
	MaxEntries int
	TLS        *tls.Config       // for URL; nil: the system's roots
	Header     map[string]string // sent with each download
	Exclude    []netip.Prefix    // never listed, whatever the feed says
}

// Status is what a feed's last refreshes did, for the admin API.
type Status struct {
	Name    string    `json:"name"`
	Source  string    `json:"source"` // the URL or file
	Format  string    `json:"format"`
	Entries int       `json:"entries"`
	Loaded  time.Time `json:"loaded,omitzero"`  // when the list in use was read
	Checked time.Time `json:"checked,omitzero"` // the last refresh that succeeded (a new list or none)
	// Error is the last refresh's failure; "" after a success. The list
	// in use stays the last good one.
	Error    string `json:"error,omitempty"`
	Failures int    `json:"failures"` // in a row
	// Skipped counts the decisions a CrowdSec feed could not use: a
	// value that is no address or range.
	Skipped int `json:"skipped,omitempty"`
}

// Result is one refresh's outcome.
type Result string

// The outcomes of a refresh.
const (
	Updated   Result = "updated"   // a new list is in use
	Unchanged Result = "unchanged" // 304, or a file not modified
	Failed    Result = "failed"    // the previous list stays
)

// Options are a feed's hooks.
type Options struct {
	// Notify is called after every refresh, from the feed's goroutine.
	Notify func(name string, res Result, entries int, err error)
	Client *http.Client // default: one of the feed's own
}

// Feed is one feed, refreshed in the background until Close. The list
// in use is swapped atomically: lookups never wait for a download.
type Feed struct {
	src    Source
	opts   Options
	client *http.Client
	set    atomic.Pointer[Set]

	mu            sync.Mutex
	status        Status
	etag, lastMod string    // of the list in use, for conditional requests
	fileStamp     time.Time // the file's modification time when read
	fileSize      int64

	pullMu   sync.Mutex // one CrowdSec pull at a time
	crowdsec crowdSecState

	refreshNow chan struct{}
	cancel     context.CancelFunc
	done       chan struct{}
}

// New returns a feed with an empty list; Refresh loads it and Start
// keeps it fresh.
func New(src Source, o Options) *Feed {
	f := &Feed{src: src, opts: o, refreshNow: make(chan struct{}, 1),
		status: Status{Name: src.Name, Source: src.URL + src.File, Format: src.Format}}
	if src.CrowdSec != nil {
		f.status.Source, f.status.Format = src.CrowdSec.URL, FormatCrowdSec
	}
	f.client = o.Client
	if f.client == nil {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: src.TLS, ForceAttemptHTTP2: true,
			TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: src.Timeout, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		f.client = &http.Client{Transport: tr, Timeout: src.Timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if req.URL.Scheme != "https" {
					return errors.New("redirected to a URL that is not https")
				}
				if len(via) >= 5 {
					return errors.New("more than 5 redirects")
				}
				return nil
			}}
	}
	return f
}

// Name is the feed's name.
func (f *Feed) Name() string { return f.src.Name }

// Set is the list in use; nil before the first successful load.
func (f *Feed) Set() *Set { return f.set.Load() }

// ListsAddr reports whether the list in use holds ip, and the feed's
// exclusions do not.
func (f *Feed) ListsAddr(ip netip.Addr) bool {
	if !f.set.Load().Contains(ip) {
		return false
	}
	ip = ip.Unmap()
	for _, p := range f.src.Exclude {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// ListsJA4 reports whether the list in use holds the fingerprint.
func (f *Feed) ListsJA4(fp string) bool { return f.set.Load().ContainsJA4(fp) }

// Status returns the feed's status.
func (f *Feed) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

// Refresh checks the feed once: downloads it (conditionally), reads the
// file if it changed, or pulls a CrowdSec Local API's changed decisions,
// and swaps in the new list when it parses.
// On any failure the list in use stays.
func (f *Feed) Refresh(ctx context.Context) (Result, error) {
	var (
		set *Set
		res Result
		err error
	)
	switch {
	case f.src.File != "":
		set, res, err = f.readFile()
	case f.src.CrowdSec != nil:
		set, res, err = f.pullDecisions(ctx)
	default:
		set, res, err = f.download(ctx)
	}
	now := time.Now()
	f.mu.Lock()
	switch {
	case err != nil:
		res = Failed
		f.status.Error = err.Error()
		f.status.Failures++
	default:
		f.status.Error, f.status.Failures, f.status.Checked = "", 0, now
		if set != nil {
			f.set.Store(set)
			f.status.Entries, f.status.Loaded = set.Entries(), now
		}
	}
	entries := f.status.Entries
	f.mu.Unlock()
	if f.opts.Notify != nil {
		f.opts.Notify(f.src.Name, res, entries, err)
	}
	return res, err
}

func (f *Feed) readFile() (*Set, Result, error) {
	fi, err := os.Stat(f.src.File)
	if err != nil {
		return nil, Failed, errors.Unwrap(err) // the path is the operator's own: say what is wrong with it
	}
	f.mu.Lock()
	same := f.set.Load() != nil && fi.ModTime().Equal(f.fileStamp) && fi.Size() == f.fileSize
	f.mu.Unlock()
	if same {
		return nil, Unchanged, nil
	}
	if fi.Size() > f.src.MaxBytes {
		return nil, Failed, fmt.Errorf("the file is %d bytes, over max_bytes (%d)", fi.Size(), f.src.MaxBytes)
	}
	file, err := os.Open(f.src.File)
	if err != nil {
		return nil, Failed, errors.Unwrap(err)
	}
	defer file.Close()
	set, err := f.parse(file)
	if err != nil {
		return nil, Failed, err
	}
	f.mu.Lock()
	f.fileStamp, f.fileSize = fi.ModTime(), fi.Size()
	f.mu.Unlock()
	return set, Updated, nil
}

func (f *Feed) download(ctx context.Context) (*Set, Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.src.URL, nil)
	if err != nil {
		return nil, Failed, err
	}
	for k, v := range f.src.Header {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "rampart-threat-intel/1")
	f.mu.Lock()
	if f.set.Load() != nil { // revalidate only what is in use
		if f.etag != "" {
			req.Header.Set("If-None-Match", f.etag)
		}
		if f.lastMod != "" {
			req.Header.Set("If-Modified-Since", f.lastMod)
		}
	}
	f.mu.Unlock()
	res, err := f.client.Do(req)
	if err != nil {
		return nil, Failed, fmt.Errorf("download: %w", err)
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotModified && f.set.Load() != nil:
		return nil, Unchanged, nil
	case res.StatusCode != http.StatusOK:
		return nil, Failed, fmt.Errorf("download: the server answered %s", res.Status)
	case res.ContentLength > f.src.MaxBytes:
		return nil, Failed, fmt.Errorf("download: the feed is %d bytes, over max_bytes (%d)", res.ContentLength, f.src.MaxBytes)
	}
	set, err := f.parse(res.Body)
	if err != nil {
		return nil, Failed, err
	}
	f.mu.Lock()
	f.etag, f.lastMod = res.Header.Get("ETag"), res.Header.Get("Last-Modified")
	f.mu.Unlock()
	return set, Updated, nil
}

// parse reads at most MaxBytes of r: a longer feed is refused, not cut.
func (f *Feed) parse(r io.Reader) (*Set, error) {
	lr := &io.LimitedReader{R: r, N: f.src.MaxBytes + 1}
	set, err := Parse(lr, f.src.Format, f.src.MaxEntries)
	if lr.N <= 0 {
		return nil, fmt.Errorf("the feed is over max_bytes (%d bytes)", f.src.MaxBytes)
	}
	if err != nil {
		return nil, err
	}
	return set, nil
}

// Start refreshes the feed every Refresh (with a tenth of jitter, so
// nodes do not ask at once) until Close; after a failure it tries again
// sooner, from 10s doubling up to Refresh.
func (f *Feed) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		for {
			wait := f.src.Refresh
			if n := f.Status().Failures; n > 0 {
				wait = min(wait, 10*time.Second<<min(n-1, 10))
			}
			wait += time.Duration(rand.Int64N(int64(wait/10) + 1))
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-f.refreshNow:
				t.Stop()
			case <-t.C:
			}
			_, _ = f.Refresh(ctx)
		}
	}()
}

// RefreshSoon asks the background loop to refresh now.
func (f *Feed) RefreshSoon() {
	select {
	case f.refreshNow <- struct{}{}:
	default:
	}
}

// Close stops the background refresh and waits for it.
func (f *Feed) Close() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
	f.client.CloseIdleConnections()
}
