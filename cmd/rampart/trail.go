package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rampart-gw/rampart/internal/config"
	"github.com/rampart-gw/rampart/internal/hsm"
	"github.com/rampart-gw/rampart/internal/siem"
	"github.com/rampart-gw/rampart/internal/store"
	"github.com/rampart-gw/rampart/internal/trail"
)

const trailUsage = `Usage:
  rampart trail verify -c rampart.yaml [--public-key FILE] [--anchor SEQ:HASH ...]
      check the chain and the signed checkpoints; exit 1 at the first bad entry
  rampart trail export -c rampart.yaml [--after SEQ] [--format rampart|ecs|ocsf]
      write the entries as JSON lines, for a SIEM
`

type anchorFlags []trail.Anchor

func (a *anchorFlags) String() string { return fmt.Sprint(*a) }
func (a *anchorFlags) Set(s string) error {
	an, err := trail.ParseAnchor(s)
	if err == nil {
		*a = append(*a, an)
	}
	return err
}

func cmdTrail(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, trailUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("trail "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "rampart.yaml", "config file")
	pubFile := fs.String("public-key", "", "PEM public key, Ed25519 or ECDSA P-256 (default: derived from trail.signing_key or token_key)")
	var anchors anchorFlags
	fs.Var(&anchors, "anchor", "SEQ:HASH of a published trail.checkpoint event (repeatable)")
	after := fs.Uint64("after", 0, "export entries after this sequence number")
	format := fs.String("format", "rampart", "export format: rampart (trail entries), ecs or ocsf (the security events in them)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, d, ok := openStore(ctx, "trail", *path, stderr)
	if !ok {
		return 1
	}
	defer d.Close()
	switch sub {
	case "verify":
		pub, err := trailPublicKey(cfg, *pubFile)
		if err != nil {
			fmt.Fprintln(stderr, "rampart trail verify:", err)
			return 1
		}
		rep, err := trail.Verify(ctx, d, pub, anchors)
		if err != nil {
			fmt.Fprintln(stderr, "rampart trail verify:", err)
			return 1
		}
		if !rep.OK() {
			fmt.Fprintf(stdout, "TAMPERED at entry %d: %s\n(%d entries before it verified, %d checkpoints)\n", rep.BadSeq, rep.Problem, rep.Entries, rep.Checkpoints)
			return 1
		}
		fmt.Fprintf(stdout, "ok: %d entries, %d signed checkpoints (key %s), the last at entry %d", rep.Entries, rep.Checkpoints, trail.KeyID(pub), rep.LastCheckpoint)
		if n := rep.Unsigned(); n > 0 {
			fmt.Fprintf(stdout, "; %d entries after it are chained but not signed yet", n)
		}
		fmt.Fprintln(stdout)
	case "export":
		enc, err := siem.EncoderFor(*format)
		if err != nil && *format != "rampart" {
			fmt.Fprintln(stderr, "rampart trail export:", err)
			return 2
		}
		err = trail.Export(ctx, d, *after, func(e trail.Entry, hash string) error {
			var line []byte
			var err error
			switch {
			case *format == "rampart":
				line, err = json.Marshal(struct {
					trail.Entry
					Hash string `json:"hash"`
				}{e, hash})
			case e.Event != nil:
				line, err = enc(e.Event)
			default:
				return nil // actions of the CLI and checkpoints have no event form
			}
			if err != nil {
				return err
			}
			_, err = stdout.Write(append(line, '\n'))
			return err
		})
		if err != nil {
			fmt.Fprintln(stderr, "rampart trail export:", err)
			return 1
		}
	default:
		fmt.Fprintf(stderr, "rampart trail: unknown command %q\n\n%s", sub, trailUsage)
		return 2
	}
	return 0
}

func trailPublicKey(cfg *config.Config, file string) (crypto.PublicKey, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		return trail.ParsePublicKey(string(b))
	}
	if cfg.Trail == nil {
		return nil, fmt.Errorf("the config has no trail; give --public-key")
	}
	tokens, closeTokens := cliTokens(cfg)
	defer closeTokens()
	key, err := trail.SigningKey(cfg, tokens)
	if err != nil {
		return nil, err
	}
	return key.Public(), nil
}

// cliTokens opens the config's PKCS#11 module for a command that uses a
// key in a token; the function returned logs out.
func cliTokens(cfg *config.Config) (func(uri string) (crypto.Signer, error), func()) {
	if cfg.PKCS11 == nil {
		return func(string) (crypto.Signer, error) { return nil, errors.New("a pkcs11: key needs the pkcs11 section") }, func() {}
	}
	m := &hsm.Module{Path: cfg.Path(cfg.PKCS11.Module), Pin: cfg.PKCS11.Pin.Value()}
	return m.SignerURI, func() { _ = m.Close() }
}

// cliTrail appends an action of the CLI to the trail, when the config
// keeps one.
func cliTrail(ctx context.Context, cfg *config.Config, d store.Driver, action, subject, detail string, stderr io.Writer) {
	if cfg.Trail == nil {
		return
	}
	tokens, closeTokens := cliTokens(cfg)
	defer closeTokens()
	key, err := trail.SigningKey(cfg, tokens)
	if err == nil {
		w := trail.NewWriter(d, trail.Options{Key: key, Actor: cliActor(), CheckpointEvery: cfg.Trail.CheckpointEvery})
		err = w.Append(ctx, trail.Entry{Kind: trail.KindAction, Action: action, Subject: subject, Detail: detail})
	}
	switch {
	case errors.Is(err, trail.ErrUnsigned):
		fmt.Fprintf(stderr, "warning: the action is in the audit trail, but the checkpoint due was not signed (the next one will be): %v\n", err)
	case err != nil:
		fmt.Fprintf(stderr, "warning: the action was done, but not recorded in the audit trail: %v\n", err)
	}
}
