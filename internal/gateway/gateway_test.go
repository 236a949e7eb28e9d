package gateway

import (
	"strings"
	"testing"
)

func TestTraceparent(t *testing.T) {
	tests := []struct {
		in      string
		keepsID bool
	}{
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"garbage", false},
		{"", false},
	}
	for _, tt := range tests {
		id, out := traceparent(tt.in)
		if got := strings.Contains(tt.in, id); got != tt.keepsID {
			t.Errorf("traceparent(%q) kept id = %v", tt.in, got)
		}
		if _, _, ok := traceContext(out); !ok {
			t.Errorf("outbound traceparent %q is invalid", out)
		}
		if out == tt.in {
			t.Error("the gateway must be the new parent span")
		}
	}
}

func FuzzRequestID(f *testing.F) {
	f.Add("abc-123")
	f.Add("a b")
	f.Fuzz(func(t *testing.T, s string) {
		if validRequestID(s) && strings.ContainsAny(s, " \r\n\t\"<>") {
			t.Fatalf("unsafe id %q accepted", s)
		}
	})
}
