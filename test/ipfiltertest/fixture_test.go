package ipfiltertest

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/rampart-gw/rampart/internal/ipfilter"
)

// fixture is the country database the gateway module's own tests use
// (they do not require the writer): 203.0.113.0/24 in FR.
const fixture = "../../cmd/rampart/testdata/country.mmdb"

var writeFixture = os.Getenv("RAMPART_WRITE_FIXTURE") != ""

// TestFixture checks the committed database reads as written here;
// RAMPART_WRITE_FIXTURE=1 writes it anew.
func TestFixture(t *testing.T) {
	if writeFixture {
		if err := WriteGeoDB(filepath.Clean(fixture), map[string]string{"203.0.113.0/24": "FR"}); err != nil {
			t.Fatal(err)
		}
	}
	db, err := ipfilter.Open(fixture)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if c, err := db.Country(netip.MustParseAddr("203.0.113.5")); c != "FR" || err != nil {
		t.Fatalf("203.0.113.5 is in %q (%v), want FR", c, err)
	}
	if c, err := db.Country(netip.MustParseAddr("198.51.100.1")); c != "" || err != nil {
		t.Fatalf("198.51.100.1 is in %q (%v), want none", c, err)
	}
}
