package provision

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/job"
)

// Record is told the outcome of each action Apply attempted.
type Record func(a Action, took time.Duration, err error)

// Apply carries out the actions in order on fsys and commits once at the
// end. It stops at the first failure: later actions may depend on it, and
// what was done is complete (every subvolume is renamed into place only when
// finished). It returns the number of actions done. record, if not nil, is
// told about every action attempted.
func Apply(ctx context.Context, fsys *btrfs.FS, actions []Action, log *slog.Logger, record Record) (int, error) {
	done := 0
	for _, a := range actions {
		if err := job.Stopped(ctx); err != nil {
			return done, err
		}
		start := time.Now()
		err := apply(ctx, fsys, a, nil)
		if record != nil {
			record(a, time.Since(start), err)
		}
		if err != nil {
			return done, err
		}
		log.Info("provisioned", "op", string(a.Op), "path", a.Path, "from", a.From, "duration", time.Since(start))
		done++
	}
	if done > 0 {
		if err := fsys.Commit(); err != nil {
			return done, err
		}
	}
	return done, nil
}

// errStopped is returned by replace when its stop hook ended it early.
var errStopped = errors.New("stopped")

// apply carries out one action. stop, when not nil, is asked after each
// step of a replacement whether to end there, as a crash would (tests).
func apply(ctx context.Context, fsys *btrfs.FS, a Action, stop func(step string) bool) error {
	switch a.Op {
	case OpRemoveLeftover:
		_, err := fsys.DeleteRecursive(a.Path)
		return err
	case OpSnapshot:
		return fsys.Snapshot(a.From, a.Path, a.ReadOnly)
	case OpMkdir:
		full := filepath.Join(fsys.Mountpoint(), a.Path)
		if err := os.Mkdir(full, a.Mode.Perm()); err != nil {
			return fmt.Errorf("create directory %s: %w", a.Path, err)
		}
		if err := os.Chmod(full, a.Mode.Perm()); err != nil { // umask
			return fmt.Errorf("create directory %s: %w", a.Path, err)
		}
		return nil
	case OpCreate, OpCapture:
		return build(ctx, fsys, a)
	case OpRetire:
		return fsys.Rename(a.Path, a.To)
	case OpReplace:
		return replace(ctx, fsys, a, stop)
	}
	return fmt.Errorf("provision %s: unknown step %q", a.Path, a.Op)
}

// build makes a new subvolume under a temporary name, sets its properties
// while it is empty, fills it (capture), makes it read-only if asked and
// renames it into place without replacing anything.
func build(ctx context.Context, fsys *btrfs.FS, a Action) error {
	tmp := a.Path + TempSuffix
	if err := fill(ctx, fsys, a, tmp); err != nil {
		return err
	}
	return fsys.Rename(tmp, a.Path)
}

// replace puts a new blank in place of the existing one without a moment
// where there is none: it builds the new one read-only under the temporary
// name, writes its trial, exchanges the two names atomically, renames the
// old blank, now under the temporary name, into the history and deletes
// the former blanks the commit does not keep. The caller commits. A crash
// before the exchange is durable leaves the old blank in place and the new
// one under the temporary name (and a trial file naming it, which no boot
// heeds); after it, the new blank in place and the old one under the
// temporary name: the next run removes the first kind of leftover and
// retires the second (Plan).
func replace(ctx context.Context, fsys *btrfs.FS, a Action, stop func(string) bool) error {
	tmp := a.Path + TempSuffix
	if strings.HasPrefix(a.From, "/") {
		if err := fill(ctx, fsys, a, tmp); err != nil {
			return err
		}
	} else if err := fsys.Snapshot(a.From, tmp, true); err != nil {
		return err
	}
	if stop != nil && stop("built") {
		return errStopped
	}
	c := a.Commit
	if c != nil && c.Trial != nil {
		d, err := btrfs.OpenDir(filepath.Join(fsys.Mountpoint(), tmp))
		if err != nil {
			return fmt.Errorf("replace blank %s: %w", a.Path, err)
		}
		info, err := d.Info()
		d.Close()
		if err != nil {
			return fmt.Errorf("replace blank %s: %w", a.Path, err)
		}
		t := *c.Trial
		t.UUID = info.UUID.String()
		if err := blanks.WriteTrial(fsys.Mountpoint(), a.TrialPath, t); err != nil {
			return fmt.Errorf("replace blank %s: %w (the new one stays as %s; the next run removes it)", a.Path, err, tmp)
		}
		if stop != nil && stop("trial") {
			return errStopped
		}
	}
	if err := fsys.Exchange(tmp, a.Path); err != nil {
		return fmt.Errorf("replace blank %s: %w (the new one stays as %s; the next run removes it)", a.Path, err, tmp)
	}
	if stop != nil && stop("exchanged") {
		return errStopped
	}
	if c == nil {
		return fmt.Errorf("replace blank %s: no history plan (the new blank is in place, the old one is %s; the next run moves it to the history)", a.Path, tmp)
	}
	if c.Trial == nil {
		// [blank] tries = 0: a trial left from before names the old
		// blank, which no boot heeds any more; it goes.
		if err := blanks.RemoveTrial(fsys.Mountpoint(), a.TrialPath); err != nil {
			return fmt.Errorf("replace blank %s: the new blank is in place, the old one is %s: %w (the next run moves it to the history)", a.Path, tmp, err)
		}
	}
	if err := fsys.Rename(tmp, c.Retire); err != nil {
		return fmt.Errorf("replace blank %s: the new blank is in place, the old one is %s: %w (the next run moves it to the history)", a.Path, tmp, err)
	}
	if stop != nil && stop("retired") {
		return errStopped
	}
	for _, p := range c.Delete() {
		if _, err := fsys.DeleteRecursive(p); err != nil {
			return fmt.Errorf("replace blank %s: the new blank is in place; former blank %s not deleted: %w", a.Path, p, err)
		}
		if stop != nil && stop("pruned "+p) {
			return errStopped
		}
	}
	return nil
}

// fill makes the subvolume tmp of a: empty with the properties of a, filled
// from a.From for a capture or a replacement from a directory, and made
// read-only if a asks for it. A signal that cuts it short (the copy is
// killed) removes the unfinished tmp it made, so a stop leaves no
// S.provisioning; a crash does, which the next run removes first.
func fill(ctx context.Context, fsys *btrfs.FS, a Action, tmp string) error {
	if err := fsys.CreateSubvolume(tmp); err != nil {
		return err
	}
	err := fillMade(ctx, fsys, a, tmp)
	if err == nil || job.Stopped(ctx) == nil {
		return err
	}
	if _, derr := fsys.DeleteRecursive(tmp); derr != nil {
		return fmt.Errorf("%w; the unfinished %s stays (the next run removes it): %w", err, tmp, derr)
	}
	return fmt.Errorf("%w; removed the unfinished %s", err, tmp)
}

// fillMade is fill once tmp exists.
func fillMade(ctx context.Context, fsys *btrfs.FS, a Action, tmp string) error {
	if a.NoCoW {
		if err := fsys.SetNoCoW(tmp); err != nil {
			return err
		}
	}
	if a.Compression != "" {
		if err := fsys.SetCompression(tmp, a.Compression); err != nil {
			return err
		}
	}
	full := filepath.Join(fsys.Mountpoint(), tmp)
	if a.Mode != 0 {
		if err := os.Chmod(full, a.Mode.Perm()); err != nil {
			return fmt.Errorf("chmod %s: %w", tmp, err)
		}
	}
	if a.Op == OpCapture || a.Op == OpReplace {
		if err := copyTree(ctx, a.From, full); err != nil {
			return fmt.Errorf("capture %s into %s: %w", a.From, tmp, err)
		}
	}
	if a.ReadOnly {
		if err := fsys.SetReadOnly(tmp, true); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the content of src into the existing directory dst with
// everything a root filesystem needs: owners, modes, times, hard links,
// xattrs and ACLs, device nodes; on one filesystem only (so /proc, /sys and
// other mounts are not descended into); sharing extents where possible.
func copyTree(ctx context.Context, src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %w", src, fs.ErrInvalid)
	}
	cmd := exec.CommandContext(ctx, "cp", "--archive", "--one-file-system", "--reflink=auto", "--", src+"/.", dst+"/")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cp: %w: %s", err, out)
	}
	return nil
}
