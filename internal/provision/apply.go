package provision

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

// Apply carries out the actions in order on fsys and commits once at the
// end. It stops at the first failure: later actions may depend on it, and
// what was done is complete (every subvolume is renamed into place only when
// finished). It returns the number of actions done.
func Apply(ctx context.Context, fsys *btrfs.FS, actions []Action, log *slog.Logger) (int, error) {
	done := 0
	for _, a := range actions {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		start := time.Now()
		if err := apply(ctx, fsys, a); err != nil {
			return done, err
		}
		log.Info("provisioned", "op", string(a.Op), "path", a.Path, "duration", time.Since(start))
		done++
	}
	if done > 0 {
		if err := fsys.Commit(); err != nil {
			return done, err
		}
	}
	return done, nil
}

func apply(ctx context.Context, fsys *btrfs.FS, a Action) error {
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
	}
	return fmt.Errorf("provision %s: unknown step %q", a.Path, a.Op)
}

// build makes a new subvolume under a temporary name, sets its properties
// while it is empty, fills it (capture), makes it read-only if asked and
// renames it into place without replacing anything.
func build(ctx context.Context, fsys *btrfs.FS, a Action) error {
	tmp := a.Path + TempSuffix
	if err := fsys.CreateSubvolume(tmp); err != nil {
		return err
	}
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
	if a.Op == OpCapture {
		if err := copyTree(ctx, a.From, full); err != nil {
			return fmt.Errorf("capture %s into %s: %w", a.From, tmp, err)
		}
	}
	if a.ReadOnly {
		if err := fsys.SetReadOnly(tmp, true); err != nil {
			return err
		}
	}
	return fsys.Rename(tmp, a.Path)
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
