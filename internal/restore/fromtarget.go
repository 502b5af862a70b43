package restore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/progress"
	"github.com/server-impermanence/server-impermanence/internal/streamstore"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// Fetched is a snapshot brought back from a target (a stream target's
// chain replayed, or a btrfs target's send received) into the snapshots
// directory before the restore.
type Fetched struct {
	Target string `json:"target"`
	// Snapshot is where it is now, below the top level.
	Snapshot string `json:"snapshot"`
	// Streams are the files replayed, in order (a stream target).
	Streams []string `json:"streams,omitempty"`
	// Local: the snapshots directory already held it; nothing fetched.
	Local bool `json:"local,omitempty"`
	// Parent (its name on the target) and ParentLocal (the server's copy,
	// below the top level): a btrfs target's incremental send; "" for a
	// full one. Why says why.
	Parent      string `json:"parent,omitempty"`
	ParentLocal string `json:"parent_local,omitempty"`
	Why         string `json:"why,omitempty"`
	// Bytes is the size of a btrfs target's send stream.
	Bytes int64 `json:"bytes,omitempty"`
}

// fromTargetPrefix names the subvolume below the top level a chain is
// replayed into (and removed from once the snapshot is in place):
// <prefix><target>. A killed run leaves it; the next run of the same
// target deletes it first.
const fromTargetPrefix = ".from-target-"

// fetchFromTarget brings the snapshot o.From of o.Subvolume back from the
// stream target o.FromTarget: the whole chain is verified against the
// manifest, replayed (decrypted with o.Identity) into a scratch subvolume,
// and the snapshot is then snapshotted read-only into
// <snapshots dir>/<subvolume>/<name>, where the swap takes it from.
func fetchFromTarget(ctx context.Context, s *job.Session, o Options) (*Fetched, error) {
	cfg, fsys := s.Config, s.FS
	t, ok := cfg.Target(o.FromTarget)
	switch {
	case !ok:
		return nil, refuse("--from-target %s: no such [[target]] in the configuration", o.FromTarget)
	case strings.Contains(o.From, "/"):
		return nil, refuse("--from-target takes a snapshot name, not a path: %s", o.From)
	case t.Format != config.FormatStream:
		if o.Identity != "" {
			return nil, refuse("--from-target %s: --identity decrypts a stream target's streams; %s is a btrfs target", t.Name, t.Name)
		}
		return fetchBtrfs(ctx, s, o, t)
	}
	root, ok := t.Local()
	if !ok {
		return nil, refuse("--from-target %s: stream targets over SSH are not supported by this version", t.Name)
	}
	dst := path.Join(cfg.Snapshots.Dir, o.Subvolume, o.From)
	f := &Fetched{Target: t.Name, Snapshot: dst}
	if _, err := fsys.Info(dst); err == nil {
		f.Local = true
		return f, nil
	}
	release, err := lockTarget(ctx, s, o, t.Name)
	if err != nil {
		return f, err
	}
	defer release()
	st := streamstore.Store{Root: root}
	m, err := st.Read(o.Subvolume)
	if err != nil {
		return f, err
	}
	chain, err := streamstore.Chain(m, o.From)
	if err != nil {
		return f, refuse("%v", err)
	}
	// Where this server still has the record of what it stored, the
	// manifest must agree with it.
	if rec, err := targetstate.Read(s.Env.StateDir(), t.Name); err == nil {
		var bad []error
		for _, d := range (streamstore.Manifest{Subvolume: o.Subvolume, Streams: chain}).Tampered(rec.Subvolumes[o.Subvolume].StreamSHA256) {
			bad = append(bad, d)
		}
		if err := errors.Join(bad...); err != nil {
			return f, refuse("%v", err)
		}
	}
	encrypted := false
	for _, x := range chain {
		f.Streams = append(f.Streams, x.File)
		encrypted = encrypted || x.Encrypted
	}
	var ids []age.Identity
	switch {
	case encrypted && o.Identity == "":
		return f, refuse("the streams of %s/%s on %s are encrypted: give --identity FILE (the age identity of one of its recipients)", o.Subvolume, o.From, t.Name)
	case o.Identity != "":
		if ids, err = streamstore.LoadIdentities(o.Identity); err != nil {
			return f, refuse("%v", err)
		}
	}
	if o.DryRun {
		return f, st.VerifyChain(o.Subvolume, chain, streamstore.Watch{Meter: o.Progress, Target: t.Name})
	}
	scratch := fromTargetPrefix + t.Name
	if _, err := fsys.Info(scratch); err == nil {
		if _, err := fsys.DeleteRecursive(scratch); err != nil {
			return f, fmt.Errorf("remove what an interrupted fetch left: %w", err)
		}
	}
	done, err := makeScratch(s, scratch)
	if err != nil {
		return f, err
	}
	defer done()
	log := s.Log.With("target", t.Name, "subvolume", o.Subvolume)
	_, err = st.Replay(ctx, o.Subvolume, o.From, ids, filepath.Join(fsys.Mountpoint(), scratch), streamstore.Watch{Meter: o.Progress, Target: t.Name, Each: func(r streamstore.Replayed) {
		log.Info(fmt.Sprintf("replayed %s from %s: %d bytes in %.1f s (%s)", r.Stream.File, t.Name, r.Stream.Size, r.Seconds, progress.Rate(r.Stream.Size, r.Seconds)),
			"file", r.Stream.File, "snapshot", r.Stream.Name, "bytes", r.Stream.Size, "seconds", math.Round(r.Seconds*1000)/1000)
	}})
	ev := audit.Event{Action: "restore-fetch", Subvolume: o.Subvolume, Path: path.Join(root, o.Subvolume, o.From), Result: audit.ResultSuccess}
	if err == nil {
		err = fsys.Snapshot(path.Join(scratch, o.From), dst, true)
	}
	if err == nil {
		err = fsys.Commit()
	}
	if err != nil {
		ev.Result, ev.Error = audit.ResultFailure, err.Error()
	}
	s.AuditEvent(ev)
	return f, err
}

// makeScratch creates the scratch subvolume a fetch from a target is
// received or replayed into (below the top level) and returns the function
// that deletes it, with everything in it, once the snapshot is in place or
// the fetch failed.
func makeScratch(s *job.Session, scratch string) (func(), error) {
	if err := s.FS.CreateSubvolume(scratch); err != nil {
		return nil, err
	}
	return func() {
		if _, err := s.FS.DeleteRecursive(scratch); err != nil {
			s.Log.Warn("remove the scratch subvolume "+scratch+": "+err.Error(), "path", scratch)
		}
	}, nil
}

// lockTarget takes the lock of the target called name (lock.Target), the
// one impermanence-send holds while it writes there, its retention
// included: a send does not remove a stream or a snapshot the fetch is
// reading, nor the fetch read what a send is writing. It waits up to
// o.LockTimeout (--lock-timeout) for a send in progress; then it fails
// naming the target and the lock's holder. The returned function releases
// it.
func lockTarget(ctx context.Context, s *job.Session, o Options, name string) (func(), error) {
	lk, err := lock.Acquire(ctx, s.Env.LockDir(), lock.Target(name), s.Job, o.LockTimeout, s.Log.With("target", name))
	if err != nil {
		return nil, fmt.Errorf("--from-target %s: %w", name, err)
	}
	return func() { lk.Release() }, nil
}
