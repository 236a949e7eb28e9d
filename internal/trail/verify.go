package trail

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/rampart-gw/rampart/internal/store"
)

// Anchor is a checkpoint known from outside the store (a trail.checkpoint
// event a SIEM kept): the trail must hold entry Seq with hash Hash.
type Anchor struct {
	Seq  uint64
	Hash string
}

// ParseAnchor reads SEQ:HASH.
func ParseAnchor(s string) (Anchor, error) {
	seq, hash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 || len(hash) != 64 {
		return Anchor{}, fmt.Errorf("anchor %q: want SEQ:HASH, the seq and hash of a trail.checkpoint event", s)
	}
	return Anchor{Seq: n, Hash: strings.ToLower(hash)}, nil
}

// Report is what Verify found.
type Report struct {
	Entries        uint64 // entries read, up to the first bad one
	Checkpoints    int    // valid checkpoints among them
	LastCheckpoint uint64 // seq of the last valid checkpoint; 0 if none
	// BadSeq is the first entry that breaks the trail (0: none), and
	// Problem says how.
	BadSeq  uint64
	Problem string
}

// OK reports whether the trail is intact.
func (r Report) OK() bool { return r.Problem == "" }

// Unsigned is the number of entries after the last checkpoint: intact
// as far as the chain goes, but not yet covered by a signature.
func (r Report) Unsigned() uint64 { return r.Entries - r.LastCheckpoint }

// Verify walks the whole trail: every entry must sit at its own sequence
// number, follow the one before (hash chain), and every checkpoint's
// signature must verify with pub; each anchor's entry must be there with
// its hash. It stops at the first entry that does not.
func Verify(ctx context.Context, d store.Driver, pub crypto.PublicKey, anchors []Anchor) (Report, error) {
	var rep Report
	if err := checkKey(pub); err != nil {
		return rep, err
	}
	want := map[uint64]string{}
	for _, a := range anchors {
		want[a.Seq] = a.Hash
	}
	prev := ""
	bad := func(seq uint64, format string, args ...any) (Report, error) {
		rep.BadSeq, rep.Problem = seq, fmt.Sprintf(format, args...)
		return rep, nil
	}
	for after := uint64(0); ; {
		recs, err := d.ListTrail(ctx, after, 1000)
		if err != nil {
			return rep, err
		}
		for _, r := range recs {
			seq := rep.Entries + 1
			if r.Seq != seq {
				return bad(seq, "entry %d is missing: the next one stored is %d (entries were deleted)", seq, r.Seq)
			}
			var e Entry
			if err := json.Unmarshal(r.Data, &e); err != nil {
				return bad(seq, "entry %d is not an entry (%v): it was altered", seq, err)
			}
			sum := sha256.Sum256(r.Data)
			hash := hex.EncodeToString(sum[:])
			switch {
			case e.Seq != seq:
				return bad(seq, "entry %d holds entry %d: entries were moved", seq, e.Seq)
			case e.Prev != prev:
				return bad(seq, "entry %d does not follow entry %d: one of them was altered, or entries between were deleted or reordered", seq, seq-1)
			case hex.EncodeToString(r.Hash) != hash:
				return bad(seq, "entry %d does not match its stored hash: it was altered", seq)
			}
			if e.Kind == KindCheckpoint {
				c := e.Checkpoint
				if c == nil {
					c = &Checkpoint{}
				}
				sig, err := base64.StdEncoding.DecodeString(c.Signature)
				if err != nil || c.Covers != seq-1 || c.KeyID != KeyID(pub) || !verify(pub, signedMessage(c.Covers, prev), sig) {
					return bad(seq, "checkpoint %d does not verify with the trail's public key (key %s): the entries before it were rewritten, or it was signed with another key", seq, KeyID(pub))
				}
				rep.Checkpoints++
				rep.LastCheckpoint = seq
			}
			if h, ok := want[seq]; ok && h != hash {
				return bad(seq, "entry %d does not match the anchor %s: the trail was rewritten from there on", seq, h)
			}
			delete(want, seq)
			rep.Entries, prev, after = seq, hash, seq
		}
		if len(recs) < 1000 {
			break
		}
	}
	for seq := range want {
		if seq > rep.Entries {
			return bad(rep.Entries+1, "the trail ends at entry %d, but a checkpoint at entry %d was published (the trail was truncated)", rep.Entries, seq)
		}
	}
	return rep, nil
}

// Export calls fn with each entry after seq, in order.
func Export(ctx context.Context, d store.Driver, after uint64, fn func(e Entry, hash string) error) error {
	for {
		recs, err := d.ListTrail(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, r := range recs {
			var e Entry
			if err := json.Unmarshal(r.Data, &e); err != nil {
				return fmt.Errorf("entry %d: %v", r.Seq, err)
			}
			if err := fn(e, hex.EncodeToString(r.Hash)); err != nil {
				return err
			}
			after = r.Seq
		}
		if len(recs) < 1000 {
			return nil
		}
	}
}
