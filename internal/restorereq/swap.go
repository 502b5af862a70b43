package restorereq

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// The state a restore replaced is kept twice: as the read-only manual
// snapshot <snapshots>/<S>/<time>-pre-restore (names.PreRestoreLabel), which
// timeline retention never deletes, and as the replaced subvolume itself,
// <archive dir>/<S>/<time>-replaced (names.Replaced), which is not an archive
// name of the rollback, so the rollback's retention never deletes it. The
// writable copy of the snapshot is S.restore (names.RestoreSuffix) before the
// exchange.

// Steps of a subvolume restore, in order.
const (
	StepPreSnapshot = "pre-snapshot" // S → <snapshots>/S/<time>-pre-restore, read-only
	StepCopy        = "copy"         // snapshot → S.restore, writable
	StepExchange    = "exchange"     // S.restore ⇄ S
	StepCommit      = "commit"
	StepArchive     = "archive"   // S.restore (the old S) → <archive>/S/<time>-replaced
	StepReadOnly    = "read-only" // the replaced state becomes read-only, as archives are
	StepCommit2     = "commit-archive"
)

// Swap is what one subvolume restore does; the names are fixed before the
// first change.
type Swap struct {
	Subvolume string `json:"subvolume"`
	Snapshot  string `json:"snapshot"`
	Temp      string `json:"temp"`
	Pre       string `json:"pre_restore_snapshot"`
	Replaced  string `json:"replaced"`
}

// Ops is what a swap needs from the filesystem (a *btrfs.FS).
type Ops interface {
	Mountpoint() string
	Info(path string) (btrfs.Subvolume, error)
	Snapshot(src, dst string, readOnly bool) error
	Exchange(a, b string) error
	Rename(from, to string) error
	Commit() error
	DeleteRecursive(path string) ([]uint64, error)
	SetReadOnly(path string, readOnly bool) error
	List() ([]btrfs.Subvolume, error)
}

// PlanSwap chooses the names for restoring sv from snap at now: names that
// are taken get "-2", "-3", ….
func PlanSwap(fsys Ops, cfg *config.Config, sv, snap string, now time.Time) Swap {
	return Swap{
		Subvolume: sv,
		Snapshot:  snap,
		Temp:      sv + names.RestoreSuffix,
		Pre:       free(fsys, path.Join(cfg.Snapshots.Dir, sv), func(n int) string { return preRestore(now, n) }),
		Replaced:  free(fsys, path.Join(cfg.Archive.Dir, sv), func(n int) string { return names.Replaced(now, n) }),
	}
}

// preRestore is the name of the pre-restore snapshot: a manual snapshot
// labelled pre-restore, pre-restore-2, … (names.Free).
func preRestore(t time.Time, n int) string {
	if n < 2 {
		return names.Snapshot(t, names.PreRestoreLabel)
	}
	return names.Snapshot(t, fmt.Sprintf("%s-%d", names.PreRestoreLabel, n))
}

// free returns dir/name(0), or dir/name(N) for the first N ≥ 2 not taken.
func free(fsys Ops, dir string, name func(n int) string) string {
	return path.Join(dir, names.Free(name, func(s string) bool { return exists(fsys, path.Join(dir, s)) }))
}

func exists(fsys Ops, p string) bool {
	_, err := os.Lstat(filepath.Join(fsys.Mountpoint(), p))
	return err == nil
}

// Apply performs the swap. step, when not nil, is called after each step
// done; an error from it stops the run there (the crash tests use it).
func (w Swap) Apply(fsys Ops, step func(name, detail string) error) error {
	if step == nil {
		step = func(string, string) error { return nil }
	}
	if err := os.MkdirAll(filepath.Join(fsys.Mountpoint(), path.Dir(w.Pre)), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", path.Dir(w.Pre), err)
	}
	if err := fsys.Snapshot(w.Subvolume, w.Pre, true); err != nil {
		return fmt.Errorf("keep the current state of %s: %w", w.Subvolume, err)
	}
	if err := step(StepPreSnapshot, w.Pre); err != nil {
		return err
	}
	if err := fsys.Snapshot(w.Snapshot, w.Temp, false); err != nil {
		return err
	}
	if err := step(StepCopy, w.Temp); err != nil {
		return err
	}
	if err := fsys.Exchange(w.Temp, w.Subvolume); err != nil {
		return err
	}
	if err := step(StepExchange, w.Subvolume); err != nil {
		return err
	}
	if err := fsys.Commit(); err != nil {
		return err
	}
	if err := step(StepCommit, ""); err != nil {
		return err
	}
	if err := w.archive(fsys); err != nil {
		return err
	}
	if err := step(StepArchive, w.Replaced); err != nil {
		return err
	}
	if err := fsys.SetReadOnly(w.Replaced, true); err != nil {
		return err
	}
	if err := step(StepReadOnly, w.Replaced); err != nil {
		return err
	}
	if err := fsys.Commit(); err != nil {
		return err
	}
	if err := step(StepCommit2, ""); err != nil {
		return err
	}
	return nil
}

// archive moves the replaced subvolume (at Temp after the exchange) into
// the archive dir, a plain directory of the top level (0700).
func (w Swap) archive(fsys Ops) error {
	if err := os.MkdirAll(filepath.Join(fsys.Mountpoint(), path.Dir(w.Replaced)), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", path.Dir(w.Replaced), err)
	}
	return fsys.Rename(w.Temp, w.Replaced)
}

// Recovery says what Recover found and did.
type Recovery struct {
	Subvolume string `json:"subvolume"`
	Found     string `json:"found"`
	Action    string `json:"action"`
	Path      string `json:"path,omitempty"`
}

// ErrNeedsRepair is returned when S.restore exists in a state Recover does
// not repair on its own.
var ErrNeedsRepair = errors.New("interrupted restore needs a repair by hand")

// Recover repairs what an interrupted restore of sv left behind, from the
// subvolume ids alone (ids grow monotonically):
//
//   - S.restore newer than S: the copy was made but not swapped in: it is
//     deleted (S is untouched; the pre-restore snapshot stays);
//   - S.restore older than S: swapped in, the replaced state not yet
//     archived: it is moved to the archive (the restore is finished);
//   - S.restore without S: S was renamed away by hand: nothing is guessed;
//   - a replaced state in the archive dir that is writable (a run stopped
//     between archiving it and its flag, or an older version): it is made
//     read-only.
//
// It returns nil when there is nothing to repair.
func Recover(fsys Ops, cfg *config.Config, sv string, now time.Time) (*Recovery, error) {
	temp := sv + names.RestoreSuffix
	t, err := fsys.Info(temp)
	if errors.Is(err, btrfs.ErrNotExist) {
		return readOnlyReplaced(fsys, cfg, sv)
	}
	if err != nil {
		return nil, err
	}
	s, err := fsys.Info(sv)
	if err != nil {
		return nil, fmt.Errorf("%s exists but %s does not (%w): %w; rename it back with `mv` on the top level after checking its content",
			temp, sv, err, ErrNeedsRepair)
	}
	r := &Recovery{Subvolume: sv}
	if t.ID > s.ID {
		r.Found = fmt.Sprintf("%s (id %d) newer than %s (id %d): a copy never swapped in", temp, t.ID, sv, s.ID)
		r.Action = "deleted " + temp
		if _, err := fsys.DeleteRecursive(temp); err != nil {
			return nil, err
		}
		return r, fsys.Commit()
	}
	w := Swap{Subvolume: sv, Temp: temp, Replaced: free(fsys, path.Join(cfg.Archive.Dir, sv), func(n int) string { return names.Replaced(now, n) })}
	r.Found = fmt.Sprintf("%s (id %d) older than %s (id %d): swapped in, the replaced state not yet archived", temp, t.ID, sv, s.ID)
	r.Action, r.Path = "archived the replaced state", w.Replaced
	if err := w.archive(fsys); err != nil {
		return nil, err
	}
	if err := fsys.SetReadOnly(w.Replaced, true); err != nil {
		return nil, err
	}
	return r, fsys.Commit()
}

// readOnlyReplaced makes the writable replaced states of sv in the archive
// dir read-only (their names: names.Replaced).
func readOnlyReplaced(fsys Ops, cfg *config.Config, sv string) (*Recovery, error) {
	subs, err := fsys.List()
	if err != nil {
		return nil, err
	}
	dir := path.Join(cfg.Archive.Dir, sv) + "/"
	var made []string
	for _, s := range subs {
		name, ok := strings.CutPrefix(s.Path, dir)
		if !ok || strings.Contains(name, "/") || s.ReadOnly {
			continue
		}
		if _, _, ok := names.ParseReplaced(name); !ok {
			continue
		}
		if err := fsys.SetReadOnly(s.Path, true); err != nil {
			return nil, err
		}
		made = append(made, s.Path)
	}
	if len(made) == 0 {
		return nil, nil
	}
	return &Recovery{Subvolume: sv, Found: "writable replaced state " + strings.Join(made, ", "),
		Action: "made it read-only", Path: made[0]}, fsys.Commit()
}
