// Package threatintel is threat intelligence for the request path:
// feeds of addresses, ranges and TLS fingerprints that known attackers
// use, read from files and HTTPS URLs in the formats their publishers
// use (plain lists, FireHOL netsets, Spamhaus DROP, JA4 lists),
// refreshed in the background with conditional requests, and a policy
// stage (stage 6) that blocks, challenges or flags the clients they
// list.
package threatintel

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
)

// Set is one feed's entries, immutable once built: addresses and CIDR
// ranges as sorted, merged, disjoint intervals (a lookup is a binary
// search: about twenty comparisons at a million entries), and JA4
// fingerprints as a set.
type Set struct {
	v4lo, v4hi []uint32
	v6lo, v6hi []u128
	ja4        map[string]struct{}
	entries    int // as listed, before merging
}

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) next() (u128, bool) {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}, a.hi == ^uint64(0)
	}
	return u128{a.hi, a.lo + 1}, false
}

// Entries is how many entries the feed listed.
func (s *Set) Entries() int {
	if s == nil {
		return 0
	}
	return s.entries
}

// Contains reports whether ip is in one of the set's ranges. An
// IPv4-mapped IPv6 address is looked up as the IPv4 address it maps.
func (s *Set) Contains(ip netip.Addr) bool {
	if s == nil || !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		b := ip.As4()
		x := binary.BigEndian.Uint32(b[:])
		// the first interval ending at or after x
		i, j := 0, len(s.v4hi)
		for i < j {
			h := int(uint(i+j) >> 1)
			if s.v4hi[h] < x {
				i = h + 1
			} else {
				j = h
			}
		}
		return i < len(s.v4lo) && s.v4lo[i] <= x
	}
	x := addr128(ip)
	i, j := 0, len(s.v6hi)
	for i < j {
		h := int(uint(i+j) >> 1)
		if s.v6hi[h].less(x) {
			i = h + 1
		} else {
			j = h
		}
	}
	return i < len(s.v6lo) && !x.less(s.v6lo[i])
}

// ContainsJA4 reports whether the fingerprint is listed.
func (s *Set) ContainsJA4(fp string) bool {
	if s == nil || fp == "" {
		return false
	}
	_, ok := s.ja4[fp]
	return ok
}

func addr128(ip netip.Addr) u128 {
	b := ip.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// builder collects a set's entries.
type builder struct {
	v4  [][2]uint32
	v6  [][2]u128
	ja4 map[string]struct{}
	n   int
}

// addPrefix adds a range (masked; an IPv4-mapped prefix as IPv4).
func (b *builder) addPrefix(p netip.Prefix) {
	p = p.Masked()
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		a = p.Addr()
	}
	b.n++
	if a.Is4() {
		v := a.As4()
		lo := binary.BigEndian.Uint32(v[:])
		hi := lo | uint32(uint64(1)<<(32-p.Bits())-1)
		b.v4 = append(b.v4, [2]uint32{lo, hi})
		return
	}
	lo := addr128(a)
	hi := lo
	if host := 128 - p.Bits(); host >= 64 {
		hi.lo = ^uint64(0)
		hi.hi |= uint64(1)<<(host-64) - 1
	} else {
		hi.lo |= uint64(1)<<host - 1
	}
	b.v6 = append(b.v6, [2]u128{lo, hi})
}

// addRange adds the addresses from lo to hi, of one family, lo <= hi.
func (b *builder) addRange(lo, hi netip.Addr) {
	b.n++
	lo, hi = lo.Unmap(), hi.Unmap()
	if lo.Is4() {
		l, h := lo.As4(), hi.As4()
		b.v4 = append(b.v4, [2]uint32{binary.BigEndian.Uint32(l[:]), binary.BigEndian.Uint32(h[:])})
		return
	}
	b.v6 = append(b.v6, [2]u128{addr128(lo), addr128(hi)})
}

func (b *builder) addJA4(fp string) {
	if b.ja4 == nil {
		b.ja4 = map[string]struct{}{}
	}
	b.n++
	b.ja4[fp] = struct{}{}
}

// build sorts and merges the ranges: overlapping and adjacent ones
// become one.
func (b *builder) build() *Set {
	s := &Set{ja4: b.ja4, entries: b.n}
	slices.SortFunc(b.v4, func(x, y [2]uint32) int { return cmp.Compare(x[0], y[0]) })
	for _, r := range b.v4 {
		if n := len(s.v4hi); n > 0 && (s.v4hi[n-1] == ^uint32(0) || r[0] <= s.v4hi[n-1]+1) {
			s.v4hi[n-1] = max(s.v4hi[n-1], r[1])
			continue
		}
		s.v4lo, s.v4hi = append(s.v4lo, r[0]), append(s.v4hi, r[1])
	}
	slices.SortFunc(b.v6, func(x, y [2]u128) int {
		switch {
		case x[0].less(y[0]):
			return -1
		case y[0].less(x[0]):
			return 1
		}
		return 0
	})
	for _, r := range b.v6 {
		if n := len(s.v6hi); n > 0 {
			last := s.v6hi[n-1]
			after, overflow := last.next()
			if overflow || !after.less(r[0]) { // r starts at or before the address after the last range
				if last.less(r[1]) {
					s.v6hi[n-1] = r[1]
				}
				continue
			}
		}
		s.v6lo, s.v6hi = append(s.v6lo, r[0]), append(s.v6hi, r[1])
	}
	b.v4, b.v6 = nil, nil
	return s
}
