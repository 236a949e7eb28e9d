package bots

import (
	"net/netip"
	"testing"
	"time"
)

// TestAnomaly: twenty addresses at one request a second and one at
// thirty. Within seconds the fast one is anomalous and the others never
// are; alone, nobody is anomalous (there is no crowd to stand out from:
// it takes ten active addresses).
func TestAnomaly(t *testing.T) {
	a := NewAnomaly(10, 5, 0)
	now := time.Now().UnixNano()
	fast := netip.MustParseAddr("203.0.113.1")
	var flaggedAt time.Duration
	for ms := 0; ms < 20_000; ms += 10 {
		at := now + int64(ms)*int64(time.Millisecond)
		if ms%1000 == 0 {
			for i := range 20 {
				if bad, r, m := a.Observe(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), at); bad {
					t.Fatalf("a 1/s address flagged at %dms: rate %.2f median %.2f", ms, r, m)
				}
			}
		}
		if ms%30 == 0 { // ~33/s
			if bad, _, _ := a.Observe(fast, at); bad && flaggedAt == 0 {
				flaggedAt = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if flaggedAt == 0 || flaggedAt > 5*time.Second {
		t.Fatalf("the fast address was flagged at %v, want within 5s", flaggedAt)
	}
	alone := NewAnomaly(10, 5, 0)
	for ms := 0; ms < 5000; ms += 10 {
		if bad, _, _ := alone.Observe(fast, now+int64(ms)*int64(time.Millisecond)); bad {
			t.Fatal("a lone address was flagged")
		}
	}
}

// TestAnomalyBounded: a flood of addresses stays within the bound.
func TestAnomalyBounded(t *testing.T) {
	a := NewAnomaly(10, 5, 1024)
	now := time.Now().UnixNano()
	for i := range 100_000 {
		a.Observe(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	n := 0
	for i := range a.shard {
		n += len(a.shard[i].m)
	}
	if n > 1024 {
		t.Fatalf("%d addresses tracked, bound 1024", n)
	}
}

func BenchmarkAnomalyObserve(b *testing.B) {
	a := NewAnomaly(10, 5, 0)
	now := time.Now().UnixNano()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		a.Observe(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), now+int64(i)*1000)
	}
}
