package main

import "testing"

func TestRoundRatios(t *testing.T) {
	base := []result{{rps: 100, round: 0}, {rps: 200, round: 1}, {rps: 100, round: 2}}
	tests := []struct {
		name        string
		rs          []result
		med, lo, hi float64
		ok          bool
	}{
		{"paired by round", []result{{rps: 90, round: 0}, {rps: 190, round: 1}, {rps: 80, round: 2}}, 0.9, 0.8, 0.95, true},
		{"a round the base lacks is left out", []result{{rps: 50, round: 3}, {rps: 90, round: 0}}, 0.9, 0.9, 0.9, true},
		{"nothing to pair", []result{{rps: 50, round: 7}}, 0, 0, 0, false},
		{"an even count takes the mean of the middle two", []result{{rps: 90, round: 0}, {rps: 140, round: 1}}, 0.8, 0.7, 0.9, true},
	}
	for _, tt := range tests {
		med, lo, hi, ok := roundRatios(tt.rs, base)
		if ok != tt.ok || med != tt.med || lo != tt.lo || hi != tt.hi {
			t.Errorf("%s: got %v %v %v %v, want %v %v %v %v", tt.name, med, lo, hi, ok, tt.med, tt.lo, tt.hi, tt.ok)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		rps  []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{nil, 0},
	} {
		rs := make([]result, len(tt.rps))
		for i, v := range tt.rps {
			rs[i] = result{rps: v}
		}
		if got := median(rs).rps; got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.rps, got, tt.want)
		}
	}
}
