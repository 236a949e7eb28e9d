package gateway

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/rampart-gw/rampart/internal/pki"
)

// watchedFiles lists the files whose change triggers a reload: the config
// and every file it reads (listener and upstream certificates and keys,
// CA bundles, CRLs, secret files such as a DSN, specs, the country
// database).
func (g *Gateway) watchedFiles() []string {
	return append([]string{g.opts.ConfigPath}, g.Config().Files()...)
}

// fingerprint hashes the contents of files, so a reload runs only when
// one really changed (editors and Kubernetes' atomic symlink swaps fire
// several events per change).
func fingerprint(files []string) [32]byte { return pki.Fingerprint(files...) }

// Watch reloads when the config file or a certificate file changes, until
// ctx ends. It watches the files' directories, so renames and symlink
// swaps are seen, and reloads only when the files differ from those of the
// last load attempt, whatever triggered it.
func (g *Gateway) Watch(ctx context.Context) error {
	if g.opts.ConfigPath == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	dirs := map[string]bool{}
	add := func() {
		for _, f := range g.watchedFiles() {
			d := filepath.Dir(f)
			if !dirs[d] {
				if err := w.Add(d); err != nil {
					g.log.Warn("cannot watch directory for changes", "dir", d, "error", err)
					continue
				}
				dirs[d] = true
			}
		}
	}
	add()
	const settle = 300 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			g.log.Warn("file watcher error", "error", err)
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			timer.Reset(settle)
		case <-timer.C:
			if g.filesUnchanged() {
				continue
			}
			if err := g.Reload("file"); err == nil {
				add()
			}
		}
	}
}

// filesUnchanged reports whether the watched files are as the last load
// attempt read them.
func (g *Gateway) filesUnchanged() bool {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	return fingerprint(g.watchedFiles()) == g.loadedFP
}
