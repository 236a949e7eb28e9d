// Package ipfiltertest writes country and ASN databases for tests.
package ipfiltertest

import (
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// WriteGeoDB writes a MaxMind-format country database mapping each CIDR
// to an ISO country code, as GeoLite2-Country lays it out. It replaces
// path atomically (a rename), as a database update does.
func WriteGeoDB(path string, countries map[string]string) error {
	records := map[string]mmdbtype.Map{}
	for cidr, iso := range countries {
		records[cidr] = mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso)}}
	}
	return write(path, "GeoLite2-Country", records)
}

// AS is an autonomous system as an ASN database records it.
type AS struct {
	Number uint32
	Org    string
}

// WriteASNDB writes a MaxMind-format ASN database mapping each CIDR to
// an autonomous system, as GeoLite2-ASN lays it out.
func WriteASNDB(path string, systems map[string]AS) error {
	records := map[string]mmdbtype.Map{}
	for cidr, as := range systems {
		records[cidr] = mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(as.Number),
			"autonomous_system_organization": mmdbtype.String(as.Org)}
	}
	return write(path, "GeoLite2-ASN", records)
}

func write(path, dbType string, records map[string]mmdbtype.Map) error {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		return err
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			return err
		}
		if err := w.Insert(n, rec); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := w.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
