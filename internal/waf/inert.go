package waf

import (
	"bytes"
	"mime"

	"github.com/rampart-gw/rampart/internal/fieldpath"
	"github.com/rampart-gw/rampart/internal/guard"
)

// An API that takes images inline (an avatar, a signature, a scanned
// receipt) sends them as data: URIs (RFC 2397) in JSON strings. To the
// rules such a value is text, and it reads as attacks: ";base64" is a
// shell command after a separator (932235), "data:" a script URI
// (941170), and the payload, once '+' is URL-decoded to a space, a run of
// random words among which some are commands or keywords (934170, 941130,
// 932260). Yet a value that is, as a whole, a raster image in base64 is
// inert wherever a backend puts it: past its fixed prefix its text is
// letters, digits, '+', '/' and '=', with no quote, space, separator,
// parenthesis or angle bracket to break out of a string, a command line
// or an attribute, and browsers render it as a picture, never as a page
// or a script. So the rules do not read it: the media type is one of the
// raster types below (never SVG, which can hold script) and the payload
// is base64 through to the end of the value. A value that fails either
// check (parameters, line breaks, upper case, anything after the payload)
// is read as before. The decoded bytes are not the rules' business: the
// CRS does not decode base64 arguments either.

// rasterTypes are the image media types no browser runs script from.
var rasterTypes = []string{
	"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif",
	"image/heic", "image/bmp", "image/x-icon", "image/vnd.microsoft.icon",
}

// inertImage reports whether v is, as a whole, a data: URI of a raster
// image in base64.
func inertImage(v []byte) bool {
	rest, ok := bytes.CutPrefix(v, []byte("data:"))
	if !ok {
		return false
	}
	for _, mt := range rasterTypes {
		if payload, ok := bytes.CutPrefix(rest, []byte(mt+";base64,")); ok {
			return base64Text(payload)
		}
	}
	return false
}

// base64Text reports whether p is standard base64 with its padding: a
// whole number of 4-character groups from A-Z a-z 0-9 + /, with '=' only
// as the last one or two characters.
func base64Text(p []byte) bool {
	if len(p) == 0 || len(p)%4 != 0 {
		return false
	}
	pad := 0
	if p[len(p)-1] == '=' {
		pad++
		if p[len(p)-2] == '=' {
			pad++
		}
	}
	for _, c := range p[:len(p)-pad] {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// maskInert blanks v when it is an inert image (inertImage), keeping its
// length, so that the rules that bound an argument's length still see
// it. The blank is a letter: a run of spaces would be an anomaly itself
// (942460 at paranoia 4), letters are what every rule lets through.
func maskInert(v []byte) bool {
	if !inertImage(v) {
		return false
	}
	for i := range v {
		v[i] = 'A'
	}
	return true
}

// withoutInertImages is a body as the rules read it: for JSON, a copy in
// which every string value that is an inert image is blanked; body itself
// when it holds none, or is not JSON. A body that is not valid JSON is
// returned as it is, for the rules and the JSON processor to judge.
func withoutInertImages(contentType string, body []byte) []byte {
	if !bytes.Contains(body, []byte(";base64,")) {
		return body // the common case: a scan at memchr speed, no copy, no parse
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || !guard.IsJSON(mt) {
		return body
	}
	buf := bytes.Clone(body)
	out, changed, err := fieldpath.Rewrite(buf, &fieldpath.Edits{MaskString: maskInert}, nil)
	if err != nil || !changed {
		return body
	}
	return out
}
