package respfilter

import (
	"testing"

	"github.com/rampart-gw/rampart/internal/bytescan"
	"github.com/rampart-gw/rampart/internal/fieldpath"
)

// BenchmarkMaskWalk: the masking walk alone over make bench's 16 KiB
// page of orders with three detectors: byte by byte with every string
// handed to the masker, and over bytescan's blocks with the detectors'
// prefilter, as the stage runs it.
func BenchmarkMaskWalk(b *testing.B) {
	body := []byte(page16K(orderItem))
	set := detectors(b, "email", "card", "phone")
	m := set.NewMasker()
	needs, digits := set.Prefilter()
	for _, tc := range []struct {
		name string
		e    fieldpath.Edits
	}{
		{"bytes", fieldpath.Edits{MaskString: func(v []byte) bool { return m.Mask(v) > 0 }, MaskNumbers: true}},
		{"blocks", fieldpath.Edits{MaskString: func(v []byte) bool { return m.Mask(v) > 0 }, MaskNumbers: true, MaskBytes: bytescan.NewSet(needs), MaskDigits: digits}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, len(body))
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				copy(buf, body)
				if _, _, err := fieldpath.Rewrite(buf, &tc.e, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
