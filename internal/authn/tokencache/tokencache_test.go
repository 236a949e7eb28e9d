package tokencache

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New[int](64)
	c.Put(Sum("a"), 1, now.Add(time.Minute))
	if v, ok := c.Get(Sum("a"), now); !ok || v != 1 {
		t.Fatal("fresh entry missed")
	}
	if _, ok := c.Get(Sum("a"), now.Add(time.Minute)); ok {
		t.Fatal("entry served at its deadline")
	}
	if _, ok := c.Get(Sum("b"), now); ok {
		t.Fatal("unknown token hit")
	}
	for i := range 1000 {
		c.Put(Sum(fmt.Sprint(i)), i, now.Add(time.Hour))
		if c.Len() > 64 {
			t.Fatalf("cache grew to %d entries", c.Len())
		}
	}
	c.Put(Sum("999"), 7, now.Add(time.Hour)) // replacing never evicts
	if v, _ := c.Get(Sum("999"), now); v != 7 {
		t.Fatal("replace lost the value")
	}
}

func TestSum(t *testing.T) {
	for _, n := range []int{0, 1, 64, 560, 2048, 2049, 70000} {
		tok := strings.Repeat("a", n)
		if Sum(tok) != sha256.Sum256([]byte(tok)) {
			t.Errorf("Sum of %d bytes differs from SHA-256", n)
		}
	}
	tok := strings.Repeat("eyJ", 200)
	if a := testing.AllocsPerRun(100, func() { Sum(tok) }); a != 0 {
		t.Errorf("Sum allocates %v times", a)
	}
}

// BenchmarkSum hashes an RS256 token's worth of bytes, the cache key of
// every request that carries one.
func BenchmarkSum(b *testing.B) {
	tok := strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 43)
	b.SetBytes(int64(len(tok)))
	b.ReportAllocs()
	for b.Loop() {
		Sum(tok)
	}
}
