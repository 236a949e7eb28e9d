package gateway

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/ipfilter"
	"github.com/rampart-gw/rampart/internal/waf"
)

// Check compiles what `rampart validate` cannot check from the config's
// data alone and `run` would refuse: each policy's WAF rule set (Coraza
// compiles operator rules, and refuses what it cannot parse) and the
// country database. It opens no listener, store or connection; the
// errors carry the position of the setting at fault.
func Check(cfg *config.Config) error {
	var out config.Errors
	add := func(path string, err error) {
		out = append(out, &config.FieldError{Pos: cfg.Pos(path), Path: path, Msg: err.Error()})
	}
	// Offline, a database that is not there was listed as not checked.
	if gi := cfg.GeoIP; gi != nil && fileExists(cfg.Path(gi.Database)) {
		if db, err := ipfilter.Open(cfg.Path(gi.Database)); err != nil {
			add("geoip.database", err)
		} else {
			_ = db.Close()
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Policies)) {
		p := cfg.Policies[name]
		if p == nil || p.WAF == nil {
			continue
		}
		w, err := waf.New(wafOptions(p, int64(cfg.Server.Limits.MaxBodyBytes)))
		if err != nil {
			add("policies."+name+".waf.rules", err)
			continue
		}
		closeWAF(w)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
