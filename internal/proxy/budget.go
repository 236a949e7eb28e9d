package proxy

import (
	"sync/atomic"
	"time"
)

// budgetSeconds is the window over which the retry budget is kept.
const budgetSeconds = 10

// Budget caps retries to Ratio of the requests seen over the last ten
// seconds, plus MinPerSecond, so a failing upstream cannot be hit by
// (1+attempts) times the load (the retry storm of an outage).
type Budget struct {
	ratio        float64
	minPerSecond int
	buckets      [budgetSeconds]bucket
}

type bucket struct {
	sec     atomic.Int64
	reqs    atomic.Int64
	retries atomic.Int64
}

// NewBudget returns a budget.
func NewBudget(ratio float64, minPerSecond int) *Budget {
	return &Budget{ratio: ratio, minPerSecond: minPerSecond}
}

func (b *Budget) bucket(now time.Time) *bucket {
	sec := now.Unix()
	bk := &b.buckets[sec%budgetSeconds]
	if old := bk.sec.Load(); old != sec && bk.sec.CompareAndSwap(old, sec) {
		bk.reqs.Store(0)
		bk.retries.Store(0)
	}
	return bk
}

// Request counts one first attempt.
func (b *Budget) Request(now time.Time) { b.bucket(now).reqs.Add(1) }

// TryRetry takes one retry from the budget if there is room.
func (b *Budget) TryRetry(now time.Time) bool {
	cur := now.Unix()
	var reqs, retries int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if cur-bk.sec.Load() < budgetSeconds {
			reqs += bk.reqs.Load()
			retries += bk.retries.Load()
		}
	}
	allowed := int64(b.ratio*float64(reqs)) + int64(b.minPerSecond*budgetSeconds)
	if retries >= allowed {
		return false
	}
	b.bucket(now).retries.Add(1)
	return true
}
