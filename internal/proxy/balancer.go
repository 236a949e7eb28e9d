package proxy

import (
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// balancer picks a target index for a request, skipping unavailable
// targets and those in tried (a bit set of indices already attempted).
// It returns -1 when no target can be picked.
type balancer interface {
	pick(ts []*Target, r *http.Request, clientIP netip.Addr, tried uint64, now time.Time) int
}

func usable(ts []*Target, i int, tried uint64, now time.Time) bool {
	return (i >= 64 || tried&(1<<i) == 0) && ts[i].Available(now)
}

// roundRobin is smooth weighted round robin over a precomputed sequence.
type roundRobin struct {
	seq  []int
	next atomicCounter
}

func newRoundRobin(ts []*Target) *roundRobin {
	// Nginx's smooth weighted round robin, unrolled once: spreads a heavy
	// target's turns instead of sending them in a burst.
	total := 0
	for _, t := range ts {
		total += t.Weight
	}
	cur := make([]int, len(ts))
	seq := make([]int, 0, total)
	for range total {
		best := 0
		for i, t := range ts {
			cur[i] += t.Weight
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		seq = append(seq, best)
	}
	return &roundRobin{seq: seq}
}

func (b *roundRobin) pick(ts []*Target, _ *http.Request, _ netip.Addr, tried uint64, now time.Time) int {
	start := b.next.add()
	for k := range len(b.seq) {
		i := b.seq[(start+uint64(k))%uint64(len(b.seq))]
		if usable(ts, i, tried, now) {
			return i
		}
	}
	return -1
}

// leastRequests picks the target with the fewest in-flight requests per
// unit of weight, starting at a random index so ties spread out.
type leastRequests struct{}

func (leastRequests) pick(ts []*Target, _ *http.Request, _ netip.Addr, tried uint64, now time.Time) int {
	best, n := -1, len(ts)
	var bestLoad float64
	off := rand.IntN(n)
	for k := range n {
		i := (off + k) % n
		if !usable(ts, i, tried, now) {
			continue
		}
		load := float64(ts[i].inFlight.Load()+1) / float64(ts[i].Weight)
		if best < 0 || load < bestLoad {
			best, bestLoad = i, load
		}
	}
	return best
}

// randomP2C draws two targets by weight and takes the less loaded one
// (power of two choices).
type randomP2C struct {
	cum []int // cumulative weights
}

func newRandomP2C(ts []*Target) *randomP2C {
	b := &randomP2C{}
	sum := 0
	for _, t := range ts {
		sum += t.Weight
		b.cum = append(b.cum, sum)
	}
	return b
}

func (b *randomP2C) draw() int {
	x := rand.IntN(b.cum[len(b.cum)-1])
	i, _ := slices.BinarySearch(b.cum, x+1)
	return i
}

func (b *randomP2C) pick(ts []*Target, r *http.Request, ip netip.Addr, tried uint64, now time.Time) int {
	a, c := b.draw(), b.draw()
	okA, okC := usable(ts, a, tried, now), usable(ts, c, tried, now)
	switch {
	case okA && okC:
		if ts[c].inFlight.Load()*int64(ts[a].Weight) < ts[a].inFlight.Load()*int64(ts[c].Weight) {
			return c
		}
		return a
	case okA:
		return a
	case okC:
		return c
	}
	return leastRequests{}.pick(ts, r, ip, tried, now)
}

// consistentHash maps a request key onto a ring of virtual nodes, so a
// target leaving moves only the keys it held (about 1/n of them).
type consistentHash struct {
	points []ringPoint
	key    func(r *http.Request, ip netip.Addr) string
}

type ringPoint struct {
	hash uint64
	idx  int
}

const vnodesPerWeight = 160

func newConsistentHash(ts []*Target, key func(*http.Request, netip.Addr) string) *consistentHash {
	b := &consistentHash{key: key}
	for i, t := range ts {
		for v := range vnodesPerWeight * t.Weight {
			b.points = append(b.points, ringPoint{hash: hashString(t.URL.Host + "#" + strconv.Itoa(v)), idx: i})
		}
	}
	slices.SortFunc(b.points, func(x, y ringPoint) int {
		switch {
		case x.hash < y.hash:
			return -1
		case x.hash > y.hash:
			return 1
		}
		return x.idx - y.idx
	})
	return b
}

func (b *consistentHash) pick(ts []*Target, r *http.Request, ip netip.Addr, tried uint64, now time.Time) int {
	h := hashString(b.key(r, ip))
	start, _ := slices.BinarySearchFunc(b.points, h, func(p ringPoint, h uint64) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	for k := range len(b.points) {
		p := b.points[(start+k)%len(b.points)]
		if usable(ts, p.idx, tried, now) {
			return p.idx
		}
	}
	return -1
}

// hashString is FNV-1a with a splitmix64 finaliser: stable across
// processes, so every gateway node maps a key to the same target.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
