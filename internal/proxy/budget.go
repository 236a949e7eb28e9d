package proxy

import (
	"sync/atomic"
	"time"
)

// budgetSeconds is the window over which the retry budget is kept.
const budgetSeconds = 10

// Budget caps retries to Ratio of the requests seen over the last ten
// seconds, so a failing upstream cannot be hit by (1+attempts) times the
// load (the retry storm of an outage), with a floor of MinPerSecond
// retries in every second, whatever the window holds: low traffic still
// gets its retries, and a burst cannot spend the floor of the seconds
// after it.
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
	bk := b.bucket(now)
	if bk.retries.Load() >= int64(b.minPerSecond) && retries >= int64(b.ratio*float64(reqs)) {
		return false
	}
	bk.retries.Add(1)
	return true
}
