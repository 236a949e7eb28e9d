package pii

import (
	"bytes"
	"net/netip"
	"strings"
)

// Character classes of the scanners.
const (
	cDigit = 1 << iota
	cUpper
	cLower
	cLocal  // an email local part: letters, digits, . _ % + -
	cDomain // a domain name: letters, digits, . -
	cB64URL // base64url: letters, digits, - _
	cHex
	cToken68 // RFC 7235 token68: letters, digits, - . _ ~ + / =
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		switch {
		case '0' <= b && b <= '9':
			t[c] |= cDigit | cLocal | cDomain | cB64URL | cHex | cToken68
		case 'A' <= b && b <= 'Z':
			t[c] |= cUpper | cLocal | cDomain | cB64URL | cToken68
		case 'a' <= b && b <= 'z':
			t[c] |= cLower | cLocal | cDomain | cB64URL | cToken68
		}
		if 'a' <= b|0x20 && b|0x20 <= 'f' {
			t[c] |= cHex
		}
	}
	for _, b := range []byte("._%+-") {
		t[b] |= cLocal
	}
	for _, b := range []byte(".-") {
		t[b] |= cDomain
	}
	for _, b := range []byte("-_") {
		t[b] |= cB64URL
	}
	for _, b := range []byte("-._~+/=") {
		t[b] |= cToken68
	}
	return t
}()

func is(c byte, cl uint8) bool { return class[c]&cl != 0 }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isWord reports whether c would join a value to its neighbour: an ASCII
// letter or digit, or any byte of a multi-byte UTF-8 character.
func isWord(c byte) bool { return class[c]&(cDigit|cUpper|cLower) != 0 || c >= 0x80 }

// wordBefore and wordAfter tell whether s[i-1] or s[i] joins a value.
func wordBefore(s []byte, i int) bool { return i > 0 && isWord(s[i-1]) }
func wordAfter(s []byte, i int) bool  { return i < len(s) && isWord(s[i]) }

// skipWord returns the end of the word that starts at s[i].
func skipWord(s []byte, i int) int {
	for i < len(s) && isWord(s[i]) {
		i++
	}
	return i
}

// Bounds on how far a scanner reads from its start byte, so a hostile
// text (16 KiB of one character) costs linear time.
const (
	maxLocal  = 64  // an email's local part (RFC 5321)
	maxDomain = 255 // a domain name
	maxIPv6   = 45  // the longest IPv6 text form
)

// emailAt finds an addr-spec email address around the '@' at s[at]: a
// local part of letters, digits and . _ % + -, and a domain with a dot
// and a TLD of two letters or more.
func emailAt(s []byte, at int) (int, int, bool) {
	l := at
	for l > 0 && at-l < maxLocal && is(s[l-1], cLocal) {
		l--
	}
	for l < at && s[l] == '.' {
		l++
	}
	r := at + 1
	for r < len(s) && r-at <= maxDomain && is(s[r], cDomain) {
		r++
	}
	for r > at+1 && (s[r-1] == '.' || s[r-1] == '-') {
		r--
	}
	if l == at || r == at+1 || !is(s[at+1], cUpper|cLower|cDigit) {
		return 0, 0, false
	}
	dot := bytes.LastIndexByte(s[at+1:r], '.')
	if dot < 0 {
		return 0, 0, false
	}
	if tld := s[at+1+dot+1 : r]; len(tld) < 2 || !letters(tld) {
		return 0, 0, false
	}
	return l, r, true
}

func letters(s []byte) bool {
	for _, c := range s {
		if !is(c, cUpper|cLower) {
			return false
		}
	}
	return true
}

// maskEmail keeps the first character of the local part and the domain.
func maskEmail(v []byte) {
	at := bytes.IndexByte(v, '@')
	for i := 1; i < at; i++ {
		v[i] = MaskChar
	}
}

// digitGroups reads a run of digit groups from s[i] (a digit): groups of
// digits joined by one separator from seps. It returns each group's end
// (after its last digit) and digit count so far, up to max groups.
func digitGroups(s []byte, i int, seps string, ends, counts []int) (int, []int, []int) {
	n := 0
	for i < len(s) {
		for i < len(s) && isDigit(s[i]) {
			i++
			n++
		}
		ends, counts = append(ends, i), append(counts, n)
		if i+1 < len(s) && strings.IndexByte(seps, s[i]) >= 0 && isDigit(s[i+1]) && len(ends) < cap(ends) {
			i++
			continue
		}
		break
	}
	return i, ends, counts
}

// cardAt finds a payment card number starting at s[i]: 13-19 digits,
// alone or in groups joined by single spaces or hyphens, starting with
// 2-6 (the major networks' ranges) and passing the Luhn check. In a run of
// groups the longest valid prefix is taken, so a card followed by a year
// still is.
func cardAt(s []byte, i int) (int, int, bool) {
	if wordBefore(s, i) || skipDigits(s, i)-i < 4 { // every card format starts with four digits or more
		return 0, 0, false
	}
	var ebuf, cbuf [8]int
	_, ends, counts := digitGroups(s, i, " -", ebuf[:0], cbuf[:0])
	for g := len(ends) - 1; g >= 0; g-- {
		if counts[g] < 13 || counts[g] > 19 || g == len(ends)-1 && wordAfter(s, ends[g]) {
			continue
		}
		if luhn(s[i:ends[g]]) {
			return i, ends[g], true
		}
	}
	return 0, 0, false
}

// skipDigits returns the index of the first non-digit at or after i.
func skipDigits(s []byte, i int) int {
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// luhn checks the digits of v (other characters are ignored).
func luhn(v []byte) bool {
	sum, double := 0, false
	for i := len(v) - 1; i >= 0; i-- {
		c := v[i]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// keepDigits masks every digit but the first and last few, in one pass
// from each end.
func keepDigits(first, last int) func(v []byte) {
	return func(v []byte) {
		lo := 0
		for k := 0; lo < len(v) && k < first; lo++ {
			if isDigit(v[lo]) {
				k++
			}
		}
		hi := len(v)
		for k := 0; hi > lo && k < last; hi-- {
			if isDigit(v[hi-1]) {
				k++
			}
		}
		for i := lo; i < hi; i++ {
			if isDigit(v[i]) {
				v[i] = MaskChar
			}
		}
	}
}

// phoneAt finds a phone number starting at s[i], written as people
// write them, not every run of digits (an order number, a date or a
// timestamp is not one): international (+ and 7-15 digits, groups joined
// by spaces, hyphens or a parenthesised group), North American ((555)
// 123-4567, 555-123-4567, 555 123 4567) and national trunk-prefixed (020
// 7946 0958: a 0 and 10-11 digits in spaced groups).
func phoneAt(s []byte, i int) (int, int, bool) {
	if wordBefore(s, i) {
		return 0, 0, false
	}
	end := -1
	switch c := s[i]; {
	case c == '+':
		if i+1 < len(s) && isDigit(s[i+1]) {
			end = international(s, i+1)
		}
	case c == '(':
		end = nanp(s, i)
	case i > 0 && (s[i-1] == '-' || s[i-1] == '.' || s[i-1] == '+'):
	default:
		if end = nanp(s, i); end < 0 && c == '0' {
			end = trunk(s, i)
		}
	}
	return i, end, end > 0
}

// international reads the digits of an international number from s[i];
// the end of the number, or -1.
func international(s []byte, i int) int {
	n, end := 0, -1
	for i < len(s) && n <= 15 {
		switch c := s[i]; {
		case isDigit(c):
			n++
			i++
			end = i
		case (c == ' ' || c == '-') && i+1 < len(s) && (isDigit(s[i+1]) || s[i+1] == '('):
			i++
		case c == '(' && i+2 < len(s) && isDigit(s[i+1]):
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			if j >= len(s) || s[j] != ')' {
				return -1
			}
			n += j - i - 1
			i = j + 1
			end = i
			if i < len(s) && s[i] == ' ' {
				i++
			}
		default:
			goto done
		}
	}
done:
	if n < 7 || n > 15 || end < 0 || wordAfter(s, end) {
		return -1
	}
	return end
}

// nanp reads a North American number at s[i]: (555) 123-4567,
// 555-123-4567, 555 123 4567, 555.123.4567; its end, or -1.
func nanp(s []byte, i int) int {
	d := func(j, n int) bool {
		if j+n > len(s) {
			return false
		}
		for k := j; k < j+n; k++ {
			if !isDigit(s[k]) {
				return false
			}
		}
		return true
	}
	var j int
	var sep byte
	if s[i] == '(' {
		if !d(i+1, 3) || i+4 >= len(s) || s[i+4] != ')' {
			return -1
		}
		j = i + 5
		if j < len(s) && s[j] == ' ' {
			j++
		}
		if !d(j, 3) {
			return -1
		}
		j += 3
		if j >= len(s) || s[j] != '-' && s[j] != ' ' && s[j] != '.' {
			return -1
		}
		sep = s[j]
	} else {
		if !d(i, 3) || i+3 >= len(s) {
			return -1
		}
		sep = s[i+3]
		if sep != '-' && sep != ' ' && sep != '.' || !d(i+4, 3) || i+7 >= len(s) || s[i+7] != sep {
			return -1
		}
		j = i + 7
	}
	if s[j] != sep || !d(j+1, 4) {
		return -1
	}
	end := j + 5
	if wordAfter(s, end) || end+1 < len(s) && (s[end] == '-' || s[end] == '.') && isDigit(s[end+1]) {
		return -1
	}
	return end
}

// trunk reads a national number with a trunk prefix at s[i] (a '0'):
// 10-11 digits in groups of two or more joined by single spaces, at
// least two groups; its end (the longest such prefix), or -1.
func trunk(s []byte, i int) int {
	n, groups, best := 0, 0, -1
	for n <= 11 {
		g := skipDigits(s, i) - i
		if g < 2 {
			break
		}
		n += g
		i += g
		groups++
		if n >= 10 && n <= 11 && groups >= 2 && !wordAfter(s, i) {
			best = i
		}
		if i+1 >= len(s) || s[i] != ' ' || !isDigit(s[i+1]) {
			break
		}
		i++
	}
	return best
}

// ibanAt finds an IBAN starting at s[i]: a country code, two check
// digits and 11-30 letters or digits, alone or in groups of four joined
// by single spaces, passing the mod-97 check.
func ibanAt(s []byte, i int) (int, int, bool) {
	if i+4 > len(s) || !is(s[i+1], cUpper) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || wordBefore(s, i) {
		return 0, 0, false
	}
	n, j, end := 4, i+4, i+4
	for j < len(s) && n < 34 {
		c := s[j]
		if is(c, cUpper|cDigit) {
			n++
			j++
			end = j
			continue
		}
		if c == ' ' && j+1 < len(s) && is(s[j+1], cUpper|cDigit) && (end-i)%5 == 4 {
			j++
			continue
		}
		break
	}
	if n < 15 || wordAfter(s, end) || !mod97(s[i:end]) {
		return 0, 0, false
	}
	return i, end, true
}

// mod97 is the IBAN check (ISO 13616): the number with its first four
// characters moved to the end, letters as 10-35, is 1 modulo 97.
func mod97(v []byte) bool {
	r := 0
	add := func(c byte) {
		switch {
		case isDigit(c):
			r = (r*10 + int(c-'0')) % 97
		case is(c, cUpper):
			r = (r*100 + int(c-'A'+10)) % 97
		}
	}
	var head []byte
	for i, c := range v {
		if c == ' ' {
			continue
		}
		if len(head) < 4 {
			head = v[:i+1]
			continue
		}
		add(c)
	}
	for _, c := range head {
		add(c)
	}
	return r == 1
}

// maskIBAN keeps the country code and the last four characters.
func maskIBAN(v []byte) {
	n := 0
	for _, c := range v {
		if c != ' ' {
			n++
		}
	}
	k := 0
	for i, c := range v {
		if c == ' ' {
			continue
		}
		if k >= 2 && k < n-4 {
			v[i] = MaskChar
		}
		k++
	}
}

// ssnAt finds a US social security number written 123-45-6789 at s[i],
// leaving alone the numbers the SSA never issues (area 000, 666 or
// 900-999, group 00, serial 0000).
func ssnAt(s []byte, i int) (int, int, bool) {
	if i+11 > len(s) || wordBefore(s, i) || i > 0 && s[i-1] == '-' {
		return 0, 0, false
	}
	v := s[i : i+11]
	if !digits(v[0:3]) || v[3] != '-' || !digits(v[4:6]) || v[6] != '-' || !digits(v[7:11]) ||
		wordAfter(s, i+11) || i+11 < len(s) && s[i+11] == '-' {
		return 0, 0, false
	}
	area := string(v[0:3])
	if area == "000" || area == "666" || v[0] == '9' || string(v[4:6]) == "00" || string(v[7:11]) == "0000" {
		return 0, 0, false
	}
	return i, i + 11, true
}

func digits(v []byte) bool {
	for _, c := range v {
		if !isDigit(c) {
			return false
		}
	}
	return len(v) > 0
}

// ipAt finds an IPv4 address in dotted-quad form starting at the digit
// s[i], or an IPv6 address around the ':' at s[i].
func ipAt(s []byte, i int) (int, int, bool) {
	if s[i] != ':' {
		if wordBefore(s, i) || i > 0 && s[i-1] == '.' {
			return 0, 0, false
		}
		end := ipv4(s, i)
		return i, end, end > 0
	}
	l, r := i, i
	for l > 0 && i-l < maxIPv6 && (is(s[l-1], cHex) || s[l-1] == ':' || s[l-1] == '.') {
		l--
	}
	for r < len(s) && r-l < maxIPv6 && (is(s[r], cHex) || s[r] == ':' || s[r] == '.') {
		r++
	}
	for r > i && (s[r-1] == '.' || s[r-1] == ':' && (r-2 < 0 || s[r-2] != ':')) {
		r--
	}
	if wordBefore(s, l) || wordAfter(s, r) || bytes.Count(s[l:r], []byte{':'}) < 2 || r-l < 6 {
		return 0, 0, false
	}
	if a, err := netip.ParseAddr(string(s[l:r])); err != nil || !a.Is6() || a.IsUnspecified() {
		return 0, 0, false
	}
	return l, r, true
}

// ipv4 reads a dotted quad at s[i]; its end, or -1.
func ipv4(s []byte, i int) int {
	for octet := 0; octet < 4; octet++ {
		if octet > 0 {
			if i >= len(s) || s[i] != '.' {
				return -1
			}
			i++
		}
		j := skipDigits(s, i)
		n := j - i
		if n == 0 || n > 3 || n > 1 && s[i] == '0' {
			return -1
		}
		v := 0
		for _, c := range s[i:j] {
			v = v*10 + int(c-'0')
		}
		if v > 255 {
			return -1
		}
		i = j
	}
	if wordAfter(s, i) || i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
		return -1
	}
	return i
}

// maskIP keeps an IPv4 address's first two octets and an IPv6 address's
// first two groups (the network, roughly); the rest is masked.
func maskIP(v []byte) {
	sep := byte('.')
	if bytes.IndexByte(v, ':') >= 0 {
		sep = ':'
	}
	seen := 0
	for i, c := range v {
		if c == sep {
			seen++
			continue
		}
		if seen >= 2 && c != '.' && c != ':' {
			v[i] = MaskChar
		}
	}
}

// jwtAt finds a JWS (three segments) or JWE (five) compact
// serialisation starting at s[i]: base64url segments joined by dots, the
// first a JSON object ("eyJ"). A sentence's full stop after one is not
// part of it.
func jwtAt(s []byte, i int) (int, int, bool) {
	if !bytes.HasPrefix(s[i:], []byte("eyJ")) || i > 0 && (is(s[i-1], cB64URL) || s[i-1] == '.') {
		return 0, 0, false
	}
	end, dots := i, 0
	for end < len(s) && (is(s[end], cB64URL) || s[end] == '.') {
		if s[end] == '.' {
			dots++
		}
		end++
	}
	if (dots == 3 || dots == 5) && s[end-1] == '.' {
		end--
		dots--
	}
	first := bytes.IndexByte(s[i:end], '.')
	if dots != 2 && dots != 4 || first < 4 || wordAfter(s, end) || end < len(s) && s[end] == '=' {
		return 0, 0, false
	}
	return i, end, true
}

// maskAfterFirst masks every character after the first sep, but sep
// characters themselves.
func maskAfterFirst(sep byte) func(v []byte) {
	return func(v []byte) {
		i := bytes.IndexByte(v, sep)
		if i < 0 {
			return
		}
		for j := i + 1; j < len(v); j++ {
			if v[j] != sep {
				v[j] = MaskChar
			}
		}
	}
}

// bearerAt finds "Bearer <token>" (any case) starting at s[i], as in an
// Authorization header echoed in a body: the token is masked, the word
// kept.
func bearerAt(s []byte, i int) (int, int, bool) {
	const word = "bearer"
	if i+len(word)+2 > len(s) || wordBefore(s, i) || !bytes.EqualFold(s[i:i+len(word)], []byte(word)) || s[i+len(word)] != ' ' {
		return 0, 0, false
	}
	j := i + len(word)
	for j < len(s) && s[j] == ' ' {
		j++
	}
	k := j
	for k < len(s) && is(s[k], cToken68) {
		k++
	}
	if k-j < 8 || wordAfter(s, k) {
		return 0, 0, false
	}
	return i, k, true
}
