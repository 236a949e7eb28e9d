package gateway

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchedFiles lists the files whose change triggers a reload: the config
// and the TLS files it names.
func (g *Gateway) watchedFiles() []string {
	files := []string{g.opts.ConfigPath}
	cfg := g.Config()
	if t := cfg.Server.TLS; t != nil {
		for _, c := range t.Certificates {
			files = append(files, cfg.Path(c.CertFile), cfg.Path(c.KeyFile))
		}
		if t.ClientAuth.CAFile != "" {
			files = append(files, cfg.Path(t.ClientAuth.CAFile))
		}
	}
	if cfg.GeoIP != nil {
		files = append(files, cfg.Path(cfg.GeoIP.Database)) // a new database edition reloads
	}
	return files
}

// fingerprint hashes the contents of files, so a reload runs only when
// one really changed (editors and Kubernetes' atomic symlink swaps fire
// several events per change).
func fingerprint(files []string) [32]byte {
	h := sha256.New()
	for _, f := range files {
		b, _ := os.ReadFile(f)
		h.Write([]byte(f))
		h.Write(b)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

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
