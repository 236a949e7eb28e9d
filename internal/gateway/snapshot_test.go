package gateway

import (
	"net/netip"
	"testing"
)

func TestAddrString(t *testing.T) {
	for _, tt := range []struct {
		client, remote string
	}{
		{"192.0.2.7", "192.0.2.7:40001"},
		{"203.0.113.9", "192.0.2.7:40001"}, // from X-Forwarded-For
		{"2001:db8::1", "[2001:db8::1]:40001"},
		{"192.0.2.7", "[::ffff:192.0.2.7]:40001"}, // the peer unmapped
		{"10.0.0.1", "10.0.0.1:1"},
	} {
		ip := netip.MustParseAddr(tt.client)
		peer, _ := netip.ParseAddrPort(tt.remote)
		if got := addrString(ip, peer, tt.remote); got != ip.String() {
			t.Errorf("addrString(%s, %s) = %q, want %q", tt.client, tt.remote, got, ip.String())
		}
	}
	ip := netip.MustParseAddr("192.0.2.7")
	peer := netip.MustParseAddrPort("192.0.2.7:40001")
	if n := testing.AllocsPerRun(100, func() { _ = addrString(ip, peer, "192.0.2.7:40001") }); n != 0 {
		t.Errorf("addrString of the peer allocates %.0f times", n)
	}
}
