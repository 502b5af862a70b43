package streamstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// maxIdentityFile bounds an age identity file.
const maxIdentityFile = 1 << 20

// LoadIdentities reads an age identity file (the private keys of
// age-keygen; a symbolic link is followed).
func LoadIdentities(path string) ([]age.Identity, error) {
	b, err := safefile.ReadFollow(path, maxIdentityFile)
	if err != nil {
		return nil, fmt.Errorf("read identity file %s: %w", path, err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return ids, nil
}

// Replayed is one stream applied.
type Replayed struct {
	Stream  Stream
	Seconds float64
}

// Watch is who follows a replay; the zero Watch is no one.
type Watch struct {
	// Each, when set, is called after each stream is applied.
	Each func(Replayed)
	// Meter (nil: off) counts the stored bytes of each stream as they
	// are read, the stream's size in the manifest as its total, under the
	// name Target.
	Meter  *progress.Meter
	Target string
}

// Replay restores the snapshot name of sv into dest, a directory on a
// btrfs filesystem: btrfs receive makes dest/<snapshot> for every stream
// of the chain (its full stream, then each incremental up to name; an
// incremental's parent is found by its received UUID on that filesystem).
// Every stream of the chain is checked against the manifest first (size
// and SHA-256 of the stored bytes), so damage anywhere is reported before
// anything is applied; an encrypted chain needs identities. While a stream
// is applied its bytes are hashed again: a file that changes after the
// check fails the replay (what was received from it is then in dest, for
// the caller to discard; a fresh filesystem is the place to replay into).
// w follows the streams as they are applied.
func (s Store) Replay(ctx context.Context, sv, name string, identities []age.Identity, dest string, w Watch) ([]Stream, error) {
	m, err := s.Read(sv)
	if err != nil {
		return nil, err
	}
	chain, err := Chain(m, name)
	if err != nil {
		return nil, err
	}
	for _, st := range chain {
		if st.Encrypted && len(identities) == 0 {
			return nil, fmt.Errorf("stream %s/%s is encrypted: give the identity file", sv, st.File)
		}
	}
	if err := s.VerifyChain(sv, chain, w); err != nil {
		return nil, fmt.Errorf("verify the chain of %s/%s: nothing applied: %w", sv, name, err)
	}
	for i, st := range chain {
		t0 := time.Now()
		w.Meter.Start(progress.Item{Target: w.Target, Subvolume: sv, Snapshot: st.Name, Index: i + 1, Count: len(chain),
			Total: st.Size, Verb: "replayed"})
		err := s.apply(ctx, sv, st, identities, dest, w.Meter)
		w.Meter.Finish(err)
		if err != nil {
			return chain, err
		}
		if w.Each != nil {
			w.Each(Replayed{Stream: st, Seconds: time.Since(t0).Seconds()})
		}
	}
	return chain, nil
}

// VerifyChain checks every stream of chain (of sv, oldest first) against
// the manifest, as Verify does; the damage of all of them joined, nil when
// every one matches. w.Meter shows it as one item, the bytes read of the
// whole chain against their total.
func (s Store) VerifyChain(sv string, chain []Stream, w Watch) error {
	var total int64
	for _, st := range chain {
		total += st.Size
	}
	last := ""
	if len(chain) > 0 {
		last = chain[len(chain)-1].Name
	}
	w.Meter.Start(progress.Item{Target: w.Target, Subvolume: sv, Snapshot: last, Total: total, Doing: "checking", Verb: "checked"})
	var damage []error
	for _, st := range chain {
		if d := s.verify(sv, st, w.Meter); d != nil {
			damage = append(damage, d)
		}
	}
	err := errors.Join(damage...)
	w.Meter.Finish(err)
	return err
}

// apply pipes one stream into btrfs receive dest; meter counts the
// stored bytes read.
func (s Store) apply(ctx context.Context, sv string, st Stream, identities []age.Identity, dest string, meter *progress.Meter) error {
	path := filepath.Join(s.dir(sv), st.File)
	f, err := safefile.Open(path)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	stored := &countReader{r: io.TeeReader(meter.Reader(f), h)}
	var r io.Reader = stored
	if st.Encrypted {
		if r, err = age.Decrypt(stored, identities...); err != nil {
			return fmt.Errorf("decrypt stream %s: %w", path, err)
		}
	}
	var stderr bytes.Buffer
	// Chrooted into dest (-C): no path of a stream reaches outside it;
	// -e stops at the end command, and what follows is read (and hashed)
	// below, after it exits, so a stream with bytes appended fails.
	name, args, cleanup, err := btrfs.ReceiveCommand(dest)
	if err != nil {
		return err
	}
	defer cleanup()
	cmd := exec.CommandContext(ctx, name, args...)
	pr, pw := io.Pipe()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, io.Discard, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start btrfs receive: %w", err)
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.CopyBuffer(pw, r, make([]byte, copyBuffer))
		pw.CloseWithError(err)
		copied <- err
	}()
	rerr := cmd.Wait()
	pr.Close()
	cerr := <-copied
	switch {
	case cerr != nil && !errors.Is(cerr, io.ErrClosedPipe):
		return fmt.Errorf("read stream %s: %w", path, cerr)
	case rerr != nil:
		return fmt.Errorf("btrfs receive of %s into %s: %w: %s", path, dest, rerr, strings.TrimSpace(stderr.String()))
	}
	if _, err := io.Copy(io.Discard, stored); err != nil {
		return fmt.Errorf("read stream %s: %w", path, err)
	}
	if d := check(sv, st, stored.n, h); d != nil {
		return fmt.Errorf("%w (it changed while it was applied: discard what was received into %s)", d, dest)
	}
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
