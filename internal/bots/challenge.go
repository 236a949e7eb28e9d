package bots

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"html"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-gw/rampart/internal/problem"
	"github.com/rampart-gw/rampart/internal/ratelimit"
	"github.com/rampart-gw/rampart/internal/reqctx"
)

// Outcome is what a request's cookies say about the challenge.
type Outcome int

// The outcomes of Check.
const (
	Failed Outcome = iota // no valid pass and no valid solution: present the challenge
	Passed                // a valid pass cookie
	Solved                // a valid solution, now exchanged for a pass cookie
)

// Cookie names.
const (
	PassCookie     = "rampart_pass"
	SolutionCookie = "rampart_pow"
)

// seedLife is how long a served challenge may be solved.
const seedLife = 5 * time.Minute

// Challenge is a stateless proof-of-work challenge. The page carries a
// seed signed with the secret and bound to the client (its address and
// User-Agent); the browser finds a nonce whose SHA-256 with the seed has
// Bits leading zero bits, stores "seed:nonce" in a cookie and reloads.
// The gateway checks the signature, the binding, the expiry and the
// work, spends the seed (a seed solves once, on every node when state is
// in Redis), and sets a signed pass cookie, bound the same way and valid
// for TTL.
type Challenge struct {
	secret []byte
	Bits   int
	TTL    time.Duration
	once   ratelimit.Once
}

// NewChallenge returns a challenge.
func NewChallenge(secret []byte, difficulty int, ttl time.Duration, once ratelimit.Once) *Challenge {
	if once == nil {
		once = ratelimit.NewMemoryOnce(0)
	}
	return &Challenge{secret: secret, Bits: difficulty, TTL: ttl, once: once}
}

// binding ties tokens to the client: a pass copied to another address or
// browser is worthless.
func binding(r *http.Request, st *reqctx.State) []byte {
	sum := sha256.Sum256([]byte(st.ClientIP.String() + "\x00" + r.UserAgent()))
	return sum[:8]
}

func (c *Challenge) mac(kind string, payload []byte) []byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(kind))
	m.Write(payload)
	return m.Sum(nil)[:16]
}

// token is payload and its MAC, base64url, joined by a dot.
func (c *Challenge) token(kind string, payload []byte) string {
	e := base64.RawURLEncoding
	return e.EncodeToString(payload) + "." + e.EncodeToString(c.mac(kind, payload))
}

// open verifies a token and returns its payload, whose first 8 bytes are
// an expiry (unix seconds) and last 8 the binding: both are checked.
func (c *Challenge) open(kind, tok string, bind []byte, now time.Time) ([]byte, bool) {
	p, m, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 256 {
		return nil, false
	}
	e := base64.RawURLEncoding
	payload, err1 := e.DecodeString(p)
	mac, err2 := e.DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) < 16 || !hmac.Equal(mac, c.mac(kind, payload)) {
		return nil, false
	}
	exp := int64(binary.BigEndian.Uint64(payload))
	if now.Unix() >= exp || !hmac.Equal(payload[len(payload)-8:], bind) {
		return nil, false
	}
	return payload, true
}

// Check looks at the request's cookies.
func (c *Challenge) Check(w http.ResponseWriter, r *http.Request, st *reqctx.State, now time.Time) Outcome {
	bind := binding(r, st)
	if ck, err := r.Cookie(PassCookie); err == nil {
		if _, ok := c.open("pass", ck.Value, bind, now); ok {
			return Passed
		}
	}
	ck, err := r.Cookie(SolutionCookie)
	if err != nil {
		return Failed
	}
	seed, nonce, ok := strings.Cut(ck.Value, ":")
	if !ok || len(nonce) > 20 {
		return Failed
	}
	payload, ok := c.open("seed", seed, bind, now)
	if !ok || leadingZeros(seed, nonce) < c.Bits {
		return Failed
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(payload)), 0)
	if !c.once.Once(r.Context(), "pow:"+seed, exp.Sub(now), now.UnixNano()) {
		return Failed // this solution was spent already
	}
	pass := make([]byte, 16)
	binary.BigEndian.PutUint64(pass, uint64(now.Add(c.TTL).Unix()))
	copy(pass[8:], bind)
	http.SetCookie(w, &http.Cookie{Name: PassCookie, Value: c.token("pass", pass), Path: "/", MaxAge: int(c.TTL / time.Second),
		HttpOnly: true, Secure: st.TLS, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: SolutionCookie, Value: "", Path: "/", MaxAge: -1, Secure: st.TLS, SameSite: http.SameSiteLaxMode})
	return Solved
}

// Demand puts a request that a rule picked to the challenge: it reports
// whether the request may go on (a valid pass, or a solution just
// exchanged for one). Otherwise it has answered: the page for a browser,
// a challenge-required problem for other clients, which cannot run it.
// stage and rule name the check in the refusal and its events; count
// (may be nil) hears passed, solved or challenged.
func (c *Challenge) Demand(w http.ResponseWriter, r *http.Request, st *reqctx.State, now time.Time, stage, rule, why string, count func(outcome string)) bool {
	if count == nil {
		count = func(string) {}
	}
	switch c.Check(w, r, st, now) {
	case Passed:
		count("passed")
		return true
	case Solved:
		count("solved")
		publish(r, st, "bot.challenge_solved", stage, rule, "The client solved the proof-of-work challenge and got a pass.")
		return true
	}
	count("challenged")
	if !acceptsHTML(r) {
		reqctx.Refuse(w, r, reqctx.Refusal{Type: problem.ChallengeRequired, Reason: "bot_challenge", Stage: stage, Rule: rule,
			Detail: why + " and must pass a browser challenge, which needs a browser. Use the credentials issued for automated access."})
		return false
	}
	st.Problem = problem.ChallengeRequired.Slug
	publish(r, st, "bot.challenge", stage, rule, "A proof-of-work challenge page was served.")
	c.Present(w, r, st, now)
	return false
}

// leadingZeros counts the leading zero bits of SHA-256(seed ":" nonce).
func leadingZeros(seed, nonce string) int {
	sum := sha256.Sum256([]byte(seed + ":" + nonce))
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// Solve finds a nonce for seed, as the page's script does; for tests and
// for clients that want to prove their work without a browser.
func Solve(seed string, difficulty int) string {
	for n := 0; ; n++ {
		s := strconv.Itoa(n)
		if leadingZeros(seed, s) >= difficulty {
			return s
		}
	}
}

// NewSeed returns a fresh seed for the client.
func (c *Challenge) NewSeed(r *http.Request, st *reqctx.State, now time.Time) string {
	payload := make([]byte, 28)
	binary.BigEndian.PutUint64(payload, uint64(now.Add(seedLife).Unix()))
	_, _ = rand.Read(payload[8:20])
	copy(payload[20:], binding(r, st))
	return c.token("seed", payload)
}

// script is the page's one script; it is constant (the seed is in a data
// attribute), so the page's Content-Security-Policy allows exactly it.
const script = `(async()=>{const d=document.documentElement.dataset,s=d.seed,b=+d.bits,e=new TextEncoder();` +
	`for(let n=0;;n++){const h=new Uint8Array(await crypto.subtle.digest("SHA-256",e.encode(s+":"+n)));let z=0;` +
	`for(const x of h){if(x===0){z+=8;continue}z+=Math.clz32(x)-24;break}` +
	`if(z>=b){document.cookie="` + SolutionCookie + `="+s+":"+n+"; path=/; max-age=300; samesite=lax"+(location.protocol==="https:"?"; secure":"");location.reload();return}}})();`

var scriptCSP = func() string {
	sum := sha256.Sum256([]byte(script))
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; style-src 'unsafe-inline'"
}()

// Present serves the interstitial page: 403, never cached, never framed.
func (c *Challenge) Present(w http.ResponseWriter, r *http.Request, st *reqctx.State, now time.Time) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", scriptCSP+"; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`<!doctype html><html lang="en" data-seed="` + html.EscapeString(c.NewSeed(r, st, now)) +
		`" data-bits="` + strconv.Itoa(c.Bits) + `"><head><meta charset="utf-8"><meta name="robots" content="noindex">` +
		`<title>One moment</title></head><body style="font-family:sans-serif;margin:4em auto;max-width:36em">` +
		`<h1>Checking your browser</h1><p>This page continues by itself in a second or two.</p>` +
		`<noscript><p>Enable JavaScript to continue.</p></noscript><script>` + script + `</script></body></html>`))
}
