package proxy

import "sync/atomic"

type atomicCounter struct{ v atomic.Uint64 }

func (c *atomicCounter) add() uint64 { return c.v.Add(1) - 1 }
