package respfilter

import (
	"strings"
	"testing"

	"github.com/rampart-gw/rampart/internal/bytescan"
	"github.com/rampart-gw/rampart/internal/fieldpath"
)

// BenchmarkMaskWalk: the masking walk alone over make bench's 16 KiB
// page of orders with three detectors: byte by byte with every string
// handed to the masker, and over bytescan's blocks with the detectors'
// prefilter, as the stage runs it.
func BenchmarkMaskWalk(b *testing.B) {
	item := `{"id":"ord_000001","status":"shipped","created_at":"2026-11-02T09:01:00Z","currency":"GBP","customer":{"id":"cus_00007","name":"Customer 1","email":"customer1@example.com"},` +
		`"shipping":{"name":"Customer 1","street":"1 Harbour Road","city":"Bristol","postcode":"BS1 5DB","country":"GB","phone":"+44 20 7946 0001"},` +
		`"lines":[{"sku":"WID-0037","name":"Widget, brushed steel","quantity":2,"unit_price":12.50},{"sku":"GAD-0011","name":"Gadget, matt black","quantity":1,"unit_price":24.00},` +
		`{"sku":"SHP-0001","name":"Standard delivery","quantity":1,"unit_price":3.95}],"totals":{"subtotal":41.45,"tax":9.29,"total":49.74},"payment":{"method":"card","brand":"visa","last4":"1111"}}`
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := 0; sb.Len() < 16<<10; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(item)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
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
