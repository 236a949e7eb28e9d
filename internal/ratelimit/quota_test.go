package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-gw/rampart/internal/testenv"
)

func TestPeriod(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	at := func(s string, loc *time.Location) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		period, at string
		loc        *time.Location
		start, end string
		hours      float64
	}{
		{"hour", "2026-11-24 10:59", time.UTC, "2026-11-24 10:00", "2026-11-24 11:00", 1},
		{"day", "2026-11-24 23:59", time.UTC, "2026-11-24 00:00", "2026-11-25 00:00", 24},
		{"month", "2026-02-14 12:00", time.UTC, "2026-02-01 00:00", "2026-03-01 00:00", 28 * 24},
		{"month", "2026-12-31 23:00", time.UTC, "2026-12-01 00:00", "2027-01-01 00:00", 31 * 24},
		// The day clocks go back in Paris lasts 25 hours.
		{"day", "2026-10-25 12:00", paris, "2026-10-25 00:00", "2026-10-26 00:00", 25},
		// 23:30 UTC on the 24th is already the 25th in Paris.
		{"day", "2026-11-24 23:30", time.UTC, "", "", 0},
	} {
		if tc.start == "" {
			start, _ := Period("day", at(tc.at, tc.loc), paris)
			if start.Day() != 25 {
				t.Errorf("23:30 UTC in Paris: period starts %v", start)
			}
			continue
		}
		start, end := Period(tc.period, at(tc.at, tc.loc), tc.loc)
		if !start.Equal(at(tc.start, tc.loc)) || !end.Equal(at(tc.end, tc.loc)) || end.Sub(start).Hours() != tc.hours {
			t.Errorf("%s of %s: %v - %v (%vh)", tc.period, tc.at, start, end, end.Sub(start).Hours())
		}
	}
}

func TestQuotaCounters(t *testing.T) {
	srv := testenv.StartRedis(t)
	now := time.Now()
	_, end := Period("day", now, time.UTC)
	redisA := NewRedis(RedisOptions{Addrs: []string{srv.Addr}})
	defer redisA.Close()
	for _, tc := range []struct {
		name string
		c    QuotaCounter
	}{{"memory", NewMemoryQuotas(0)}, {"redis", redisA}} {
		k := Key{Local: 5, Shared: [16]byte{5}}
		for i := int64(1); i <= 3; i++ {
			if n, ok := tc.c.Count(context.Background(), k, 3, end, now); !ok || n != i {
				t.Fatalf("%s: request %d: %d %v", tc.name, i, n, ok)
			}
		}
		if n, ok := tc.c.Count(context.Background(), k, 3, end, now); ok || n != 3 {
			t.Fatalf("%s: over the quota: %d %v", tc.name, n, ok)
		}
	}
	// A gateway restarted (a new client) finds the count in Redis.
	redisB := NewRedis(RedisOptions{Addrs: []string{srv.Addr}})
	defer redisB.Close()
	if _, ok := redisB.Count(context.Background(), Key{Shared: [16]byte{5}}, 3, end, now); ok {
		t.Fatal("a new node did not see the quota used up")
	}
}
