package config

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// scalar is implemented by config types decoded from one YAML scalar.
type scalar interface {
	decodeScalar(s string) error
}

// Duration is a non-negative Go duration such as 250ms or 5m, or a
// whole number of days such as 90d.
type Duration time.Duration

func (d *Duration) decodeScalar(s string) error {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100*365 {
			*d = Duration(time.Duration(n) * 24 * time.Hour)
			return nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a number with a unit such as 250ms, 5s, 2m or 90d", s)
	}
	if v < 0 {
		return fmt.Errorf("duration %q must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON renders d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Size is a byte count written as 512, 32KiB, 1MiB or 1GiB.
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (z *Size) decodeScalar(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		if strings.HasSuffix(s, "KB") || strings.HasSuffix(s, "MB") || strings.HasSuffix(s, "GB") {
			return fmt.Errorf("invalid size %q: use binary units KiB, MiB or GiB", s)
		}
		return fmt.Errorf("invalid size %q: use a byte count such as 512, 32KiB or 1MiB", s)
	}
	if n > (1<<62)/mult {
		return fmt.Errorf("size %q is too large", s)
	}
	*z = Size(n * mult)
	return nil
}

// String renders z with the largest exact binary unit.
func (z Size) String() string {
	for _, u := range sizeUnits {
		if u.mult > 1 && z != 0 && int64(z)%u.mult == 0 {
			return strconv.FormatInt(int64(z)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(z), 10)
}

// MarshalJSON renders z as in the config file.
func (z Size) MarshalJSON() ([]byte, error) { return json.Marshal(z.String()) }

// Rate is a request rate written N/s, N/m, N/h or N/d.
type Rate struct {
	N   int64
	Per time.Duration
}

var ratePeriods = map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}

func (r *Rate) decodeScalar(s string) error {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	per, known := ratePeriods[strings.TrimSpace(unit)]
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if !ok || !known || err != nil || n <= 0 || n > 1e9 {
		return fmt.Errorf("invalid rate %q: use a positive count per s, m, h or d, such as 100/s or 1000/m", s)
	}
	*r = Rate{N: n, Per: per}
	return nil
}

// Interval is the time one request uses up: Per / N.
func (r Rate) Interval() time.Duration { return r.Per / time.Duration(r.N) }

// String renders r as in the config file.
func (r Rate) String() string {
	for u, d := range ratePeriods {
		if d == r.Per {
			return strconv.FormatInt(r.N, 10) + "/" + u
		}
	}
	return strconv.FormatInt(r.N, 10) + "/" + r.Per.String()
}

// MarshalJSON renders r as in the config file.
func (r Rate) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// Default sets d to v when it is unset (0).
func (d *Duration) Default(v time.Duration) {
	if *d == 0 {
		*d = Duration(v)
	}
}

// Time is an instant written as a date (2026-06-01, midnight UTC) or an
// RFC 3339 time (2026-06-01T09:00:00+02:00).
type Time struct{ time.Time }

func (t *Time) decodeScalar(s string) error {
	s = strings.TrimSpace(s)
	if v, err := time.Parse(time.DateOnly, s); err == nil {
		t.Time = v
		return nil
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("invalid time %q: use a date such as 2026-06-01 or an RFC 3339 time such as 2026-06-01T09:00:00Z", s)
	}
	t.Time = v.UTC()
	return nil
}

// MarshalJSON renders t as an RFC 3339 time in UTC.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.UTC().Format(time.RFC3339)) }

// ParseDuration reads a duration as the config does: 250ms, 5m, 90d.
func ParseDuration(s string) (time.Duration, error) {
	var d Duration
	err := d.decodeScalar(s)
	return d.D(), err
}
