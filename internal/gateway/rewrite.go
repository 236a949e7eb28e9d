package gateway

import (
	"strings"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/route"
)

// compileRewrite returns the route's path rewrite, or nil when it keeps
// the path. Config validation has checked prefixes and template params.
func compileRewrite(rw *config.Rewrite) func(string, *route.Match) string {
	// A rewrite of the Host header alone keeps the path.
	if rw == nil || (rw.StripPrefix == "" && rw.AddPrefix == "" && rw.Path == "") {
		return nil
	}
	if rw.Path != "" {
		parts := splitTemplate(rw.Path)
		return func(_ string, m *route.Match) string {
			var b strings.Builder
			for _, p := range parts {
				if p.param {
					b.WriteString(m.Param(p.text))
				} else {
					b.WriteString(p.text)
				}
			}
			return b.String()
		}
	}
	strip, add := rw.StripPrefix, rw.AddPrefix
	return func(path string, _ *route.Match) string {
		if strip != "" && strip != "/" {
			if rest, ok := strings.CutPrefix(path, strip); ok && (rest == "" || rest[0] == '/') {
				path = rest
			}
		}
		if path == "" {
			path = "/"
		}
		if add != "" {
			if path == "/" {
				return add
			}
			return add + path
		}
		return path
	}
}

type templatePart struct {
	text  string
	param bool
}

func splitTemplate(t string) []templatePart {
	var parts []templatePart
	for t != "" {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			parts = append(parts, templatePart{text: t})
			break
		}
		if i > 0 {
			parts = append(parts, templatePart{text: t[:i]})
		}
		j := strings.IndexByte(t[i:], '}')
		parts = append(parts, templatePart{text: t[i+1 : i+j], param: true})
		t = t[i+j+1:]
	}
	return parts
}
