package gateway

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/hsm"
	"github.com/rampart-gw/rampart/internal/ipfilter"
	"github.com/rampart-gw/rampart/internal/threatintel"
	"github.com/rampart-gw/rampart/internal/waf"
)

// Check compiles what `rampart validate` cannot check from the config's
// data alone and `run` would refuse: each policy's WAF rule set (Coraza
// compiles operator rules, and refuses what it cannot parse), the
// country database and threat-feed files. It opens no listener, store or connection; the
// errors carry the position of the setting at fault.
func Check(cfg *config.Config) error {
	var out config.Errors
	add := func(path string, err error) {
		out = append(out, &config.FieldError{Pos: cfg.Pos(path), Path: path, Msg: err.Error()})
	}
	// Offline, a database that is not there was listed as not checked.
	if gi := cfg.GeoIP; gi != nil {
		for setting, file := range map[string]string{"geoip.database": gi.Database, "geoip.asn_database": gi.ASNDatabase} {
			if file == "" || !fileExists(cfg.Path(file)) {
				continue
			}
			if db, err := ipfilter.Open(cfg.Path(file)); err != nil {
				add(setting, err)
			} else {
				_ = db.Close()
			}
		}
	}
	// A token's key is named by its URI; the token is not opened here.
	if k := cfg.Identity.SigningKey; hsm.IsURI(k) {
		if _, err := hsm.ParseURI(k); err != nil {
			add("identity.signing_key", err)
		}
	}
	// A feed file run would refuse: a line that is not an entry, too
	// many entries. Downloads are not made here.
	if ti := cfg.ThreatIntel; ti != nil {
		for _, name := range slices.Sorted(maps.Keys(ti.Feeds)) {
			f := ti.Feeds[name]
			if f == nil || f.File == "" || !fileExists(cfg.Path(f.File)) {
				continue
			}
			src, err := feedSource(cfg, name, f)
			if err == nil {
				_, err = threatintel.New(src, threatintel.Options{}).Refresh(context.Background())
			}
			if err != nil {
				add("threat_intel.feeds."+name+".file", err)
			}
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
