package authn

import (
	"encoding/json"
	"slices"
	"time"
)

// AudienceOK reports whether an aud claim (a string or an array of
// strings) names one of want.
func AudienceOK(want []string, raw json.RawMessage) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return slices.Contains(want, one)
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, aud := range many {
			if slices.Contains(want, aud) {
				return true
			}
		}
	}
	return false
}

// NumericDate reads a JWT NumericDate (seconds since the epoch, fractions
// allowed); absent and absurd values are refused.
func NumericDate(n *json.Number) (time.Time, bool) {
	if n == nil {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(0, 0).Add(time.Duration(f * float64(time.Second))), true
}
