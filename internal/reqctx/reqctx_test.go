package reqctx

import (
	"slices"
	"testing"
)

func TestSetUpstream(t *testing.T) {
	st := &State{}
	st.SetUpstream("x-rampart-consumer", []string{"alice"})
	st.SetUpstream("Range", nil)
	st.SetUpstream("X-Rampart-Consumer", []string{"bob"}) // replaces, in place
	st.SetUpstream("Accept-Encoding", []string{"identity"})
	if n := len(st.UpstreamHeader); n != 3 {
		t.Fatalf("%d fields, want 3: %v", n, st.UpstreamHeader)
	}
	tests := []struct {
		name string
		want []string
		ok   bool
	}{
		{"X-Rampart-Consumer", []string{"bob"}, true},
		{"x-rampart-consumer", []string{"bob"}, true},
		{"Range", nil, true},
		{"Accept-Encoding", []string{"identity"}, true},
		{"Authorization", nil, false},
	}
	for _, tt := range tests {
		got, ok := st.UpstreamValues(tt.name)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("UpstreamValues(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
	if st.UpstreamHeader[0].Name != "X-Rampart-Consumer" {
		t.Errorf("names are kept in canonical form: %q", st.UpstreamHeader[0].Name)
	}
	v := []string{"v"}
	s := &State{}
	if a := testing.AllocsPerRun(100, func() {
		s.UpstreamHeader = nil
		for _, n := range []string{"A-One", "A-Two", "A-Three", "A-Four"} {
			s.SetUpstream(n, v)
		}
	}); a != 0 {
		t.Errorf("four fields cost %v allocations beyond the state's, want 0", a)
	}
}
