package tokencache

import (
	"fmt"
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
