package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/testenv"
)

func testGraduation(t testing.TB) *Graduation {
	t.Helper()
	g, err := CompileGraduated("login", &config.Graduated{Key: "ip", Offences: []string{"rate-limited"}, Window: config.Duration(time.Minute),
		Warn: 2, Block: 4, Ban: &config.Ban{After: 6, Forget: config.Duration(time.Hour),
			Periods: []config.Duration{config.Duration(time.Minute), config.Duration(10 * time.Minute)}}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestAbuseState runs the same escalation against the memory state and
// a real redis-server: offences counted in a sliding window, a ban at the
// threshold that wipes the count, longer bans for repeat offenders, ban
// memory forgotten after Forget, listing and lifting.
func TestAbuseState(t *testing.T) {
	srv := testenv.StartRedis(t)
	rd := NewRedis(RedisOptions{Addrs: []string{srv.Addr}, OnError: FallbackLocal})
	defer rd.Close()
	for _, tc := range []struct {
		name  string
		state Abuse
		key   Key
	}{
		{"memory", NewMemoryAbuse(0), Key{Local: 0xabcdef}},
		{"redis", rd, Key{Shared: [16]byte{9, 9, 9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testGraduation(t)
			k := tc.key
			// Whole milliseconds, as Redis keeps them.
			base := time.Now().UnixMilli() * int64(time.Millisecond)
			at := func(d time.Duration) int64 { return base + int64(d) }
			if s := tc.state.Standing(context.Background(), k, g, at(0)); s != (Standing{}) {
				t.Fatalf("a new key: %+v", s)
			}
			// The first offence starts the key's window.
			for i := range 5 {
				s, banned := tc.state.Offend(context.Background(), k, g, "ip=192.0.2.1", at(time.Duration(i)*time.Second))
				if banned || s.Offences != int64(i+1) {
					t.Fatalf("offence %d: %+v banned %v", i+1, s, banned)
				}
			}
			// 75s in, the sliding minute covers a quarter of the next window
			// and three quarters of the first: 5 * 3/4 rounds to 4.
			if s := tc.state.Standing(context.Background(), k, g, at(75*time.Second)); s.Offences != 4 {
				t.Fatalf("75s in: %d offences, want 5 weighted by 3/4, rounded: 4", s.Offences)
			}
			// Two more: 4 + 2 reaches the ban at 6.
			var s Standing
			var banned bool
			for i := range 2 {
				s, banned = tc.state.Offend(context.Background(), k, g, "ip=192.0.2.1", at(75*time.Second+time.Duration(i)*time.Millisecond))
			}
			if !banned || s.Bans != 1 || s.BannedUntil != at(75*time.Second+time.Millisecond+time.Minute) || s.Offences != 0 {
				t.Fatalf("the 6th offence in the window: %+v banned %v", s, banned)
			}
			bans, err := tc.state.Bans(context.Background(), at(100*time.Second))
			if err != nil || len(bans) != 1 || bans[0].Policy != "login" || bans[0].Subject != "ip=192.0.2.1" || bans[0].Count != 1 {
				t.Fatalf("bans: %+v %v", bans, err)
			}
			// After the ban, it starts again; the second ban is longer.
			after := at(75*time.Second + time.Minute + time.Second)
			if st := tc.state.Standing(context.Background(), k, g, after); st.BannedUntil > after || st.Offences != 0 {
				t.Fatalf("after the ban: %+v", st)
			}
			for range 6 {
				s, banned = tc.state.Offend(context.Background(), k, g, "ip=192.0.2.1", after)
			}
			if !banned || s.Bans != 2 || s.BannedUntil != after+int64(10*time.Minute) {
				t.Fatalf("second ban: %+v banned %v", s, banned)
			}
			// Lifted: no ban, no offences, but the count of bans stays.
			if ok, err := tc.state.Lift(context.Background(), bans[0].ID, after+int64(time.Millisecond)); !ok || err != nil {
				t.Fatalf("lift %s: %v %v", bans[0].ID, ok, err)
			}
			lifted := after + int64(2*time.Millisecond)
			if st := tc.state.Standing(context.Background(), k, g, lifted); st.BannedUntil > lifted || st.Offences != 0 || st.Bans != 2 {
				t.Fatalf("after lifting: %+v", st)
			}
			if ok, _ := tc.state.Lift(context.Background(), bans[0].ID, after+int64(3*time.Millisecond)); ok {
				t.Fatal("lifting a lifted ban reported a ban")
			}
			if ok, _ := tc.state.Lift(context.Background(), "not-an-id", after); ok {
				t.Fatal("lifting a malformed id reported a ban")
			}
			// An hour after the last ban ended the ban count is forgotten:
			// the next ban is a first one again.
			later := after + int64(2*time.Hour)
			for range 6 {
				s, banned = tc.state.Offend(context.Background(), k, g, "ip=192.0.2.1", later)
			}
			if !banned || s.Bans != 1 || s.BannedUntil != later+int64(time.Minute) {
				t.Fatalf("after Forget: %+v banned %v", s, banned)
			}
		})
	}
}

// TestAbuseMemoryBounded: a flood of distinct offending keys keeps the
// state within its bound, and a running ban is never the one evicted
// while stale entries are around.
func TestAbuseMemoryBounded(t *testing.T) {
	m := NewMemoryAbuse(shards * 16)
	g := testGraduation(t)
	now := time.Now().UnixNano()
	banned := Key{Local: 7}
	for range 6 {
		m.Offend(context.Background(), banned, g, "ip=192.0.2.7", now)
	}
	for i := range 100_000 {
		m.Offend(context.Background(), Key{Local: uint64(i)<<8 | 1}, g, "ip=x", now)
	}
	n := 0
	for i := range m.shard {
		n += len(m.shard[i].m)
	}
	if n > shards*16 {
		t.Fatalf("%d entries, bound %d", n, shards*16)
	}
	m.Sweep(now + int64(3*time.Minute))
	if s := m.Standing(context.Background(), banned, g, now+int64(30*time.Second)); s.BannedUntil <= now {
		t.Fatalf("the ban was lost: %+v", s)
	}
}

// BenchmarkAbuseStanding is the graduated response's per-request cost
// with memory state: one standing lookup.
func BenchmarkAbuseStanding(b *testing.B) {
	m := NewMemoryAbuse(0)
	g := testGraduation(b)
	now := time.Now().UnixNano()
	for i := range 1000 {
		m.Offend(context.Background(), Key{Local: uint64(i)}, g, "ip=x", now)
	}
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		m.Standing(context.Background(), Key{Local: i % 2000}, g, now)
	}
}
