package restore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// PathRestore is one path restored by reflink copy out of a snapshot.
type PathRestore struct {
	Path      string `json:"path"`      // in the booted system
	Subvolume string `json:"subvolume"` // that holds it
	Snapshot  string `json:"snapshot"`  // relative to the top level
	From      string `json:"from"`      // source, relative to the top level
	To        string `json:"to"`        // destination, relative to the top level
	// Aside is where the replaced path was kept (--force), "" when there
	// was none.
	Aside string `json:"aside,omitempty"`
}

// ErrExists is returned for a destination that exists without --force.
var ErrExists = errors.New("exists")

// Locate returns the subvolume that holds the live path p and p relative to
// that subvolume's root. A persisted path lives on the persist subvolume at
// its own absolute path; otherwise the subvolume with the longest
// mountpoint that contains p holds it.
func Locate(cfg *config.Config, p string) (config.Subvolume, string, error) {
	if !path.IsAbs(p) || path.Clean(p) != p || strings.Contains(p, "/../") {
		return config.Subvolume{}, "", fmt.Errorf("path %q: want an absolute, clean path", p)
	}
	for _, pp := range append(cfg.Persist.Directories, cfg.Persist.Files...) {
		if p == pp.Path || strings.HasPrefix(p, pp.Path+"/") {
			sv, ok := cfg.Subvolume(cfg.Persist.Subvolume)
			if !ok {
				break
			}
			return sv, strings.TrimPrefix(p, "/"), nil
		}
	}
	var best config.Subvolume
	found := false
	for _, sv := range cfg.Subvolumes {
		mp := sv.Mountpoint
		if (mp == "/" || p == mp || strings.HasPrefix(p, mp+"/")) && (!found || len(mp) > len(best.Mountpoint)) {
			best, found = sv, true
		}
	}
	if !found {
		return config.Subvolume{}, "", fmt.Errorf("path %s is on no configured subvolume", p)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, best.Mountpoint), "/")
	if rel == "" {
		return config.Subvolume{}, "", fmt.Errorf("path %s is the mountpoint of %s: restore the whole subvolume (impermanence-restore --from SNAPSHOT %s)", p, best.Name, best.Name)
	}
	return best, rel, nil
}

// PlanPath checks the restore of live path p from snapshot from and returns
// it. Without force an existing destination is refused (ErrExists).
func PlanPath(cfg *config.Config, top, p, from string, force bool, now time.Time) (PathRestore, error) {
	sv, rel, err := Locate(cfg, p)
	if err != nil {
		return PathRestore{}, err
	}
	if sv.Class == config.Ephemeral {
		return PathRestore{}, fmt.Errorf("path %s is on ephemeral %s, which the next boot resets: nothing restored there would last (persist the path first, see [persist] in the configuration)", p, sv.Name)
	}
	snap, err := ResolveSnapshot(cfg, sv.Name, from)
	if err != nil {
		return PathRestore{}, err
	}
	r := PathRestore{Path: p, Subvolume: sv.Name, Snapshot: snap, From: path.Join(snap, rel), To: path.Join(sv.Name, rel)}
	if err := noSymlinkParents(top, snap, rel); err != nil {
		return r, err
	}
	if _, err := os.Lstat(filepath.Join(top, r.From)); err != nil {
		return r, fmt.Errorf("%s is not in snapshot %s: %w (impermanence-snapshot list %s shows the others)", p, snap, err, sv.Name)
	}
	if err := noSymlinkParents(top, sv.Name, rel); err != nil {
		return r, err
	}
	if _, err := os.Lstat(filepath.Join(top, r.To)); err == nil {
		r.Aside = asideName(top, r.To, now)
		if !force {
			return r, fmt.Errorf("%s %w: it is not overwritten; add --force to restore it and keep the current one as %s",
				p, ErrExists, path.Join(path.Dir(p), path.Base(r.Aside)))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	return r, nil
}

// asideName returns the first free names.Aside of to.
func asideName(top, to string, now time.Time) string {
	return names.Free(func(n int) string { return names.Aside(to, now, n) }, func(p string) bool {
		_, err := os.Lstat(filepath.Join(top, p))
		return !errors.Is(err, fs.ErrNotExist)
	})
}

// noSymlinkParents refuses a path whose directories inside the subvolume
// root are symbolic links: following one could leave the subvolume.
func noSymlinkParents(top, root, rel string) error {
	cur := filepath.Join(top, root)
	parts := strings.Split(rel, "/")
	for _, c := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, c)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // created from the snapshot's directories
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory (a symbolic link is not followed)", strings.TrimPrefix(cur, top+"/"))
		}
	}
	return nil
}

// Apply copies From to To with reflinks (cp --reflink=always -a, which
// shares the extents: no data is copied) under a temporary name in the
// destination directory, then puts it in place: with RENAME_EXCHANGE when
// the destination exists (which is then renamed to Aside), so that the path
// always exists, else with RENAME_NOREPLACE. Missing parent directories are
// created with the snapshot's modes and owners.
func (r PathRestore) Apply(top string) error {
	to := filepath.Join(top, r.To)
	if err := mkParents(top, r.Snapshot, r.Subvolume, strings.TrimPrefix(r.To, r.Subvolume+"/")); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(to), "."+filepath.Base(to)+".restore-tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove leftover %s: %w", tmp, err)
	}
	out, err := exec.Command("cp", "--reflink=always", "-a", "--no-target-directory", filepath.Join(top, r.From), tmp).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("reflink copy %s to %s: %w: %s", r.From, r.To, err, strings.TrimSpace(string(out)))
	}
	if r.Aside == "" {
		if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("put %s in place: %w", r.To, err)
		}
		return nil
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, to, unix.RENAME_EXCHANGE); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("exchange %s with the restored copy: %w", r.To, err)
	}
	// tmp now holds the replaced path.
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, filepath.Join(top, r.Aside), unix.RENAME_NOREPLACE); err != nil {
		return fmt.Errorf("keep the replaced %s as %s (it is at %s): %w", r.To, r.Aside, tmp, err)
	}
	return nil
}

// mkParents creates the missing directories of rel below the subvolume
// root sv, each with the mode and owner of the snapshot's.
func mkParents(top, snap, sv, rel string) error {
	parts := strings.Split(rel, "/")
	for i := 1; i < len(parts); i++ {
		d := path.Join(parts[:i]...)
		dst := filepath.Join(top, sv, d)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		fi, err := os.Lstat(filepath.Join(top, snap, d))
		if err != nil {
			return err
		}
		if err := os.Mkdir(dst, fi.Mode().Perm()); err != nil {
			return fmt.Errorf("create %s: %w", path.Join(sv, d), err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			os.Lchown(dst, int(st.Uid), int(st.Gid))
			os.Chmod(dst, fi.Mode().Perm())
		}
	}
	return nil
}
