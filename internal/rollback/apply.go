package rollback

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// ErrStopped is returned by Apply when the stop hook stopped it (tests
// simulate a crash after every step this way).
var ErrStopped = errors.New("stopped by the test hook")

// Ops are the filesystem operations a plan needs; *btrfs.FS through fsOps.
type Ops interface {
	Snapshot(src, dst string, readOnly bool) error
	CreateSubvolume(path string) error
	SetNoCoW(path string) error
	SetCompression(path, algo string) error
	Exchange(a, b string) error
	Rename(from, to string) error
	Delete(id uint64) error
	Commit() error
	Mkdir(path string) error
	SetReadOnly(path string, readOnly bool) error
}

// fsOps adds Mkdir to *btrfs.FS.
type fsOps struct{ *btrfs.FS }

// Mkdir creates the plain directory p (0700, root-only like the archive dir)
// in the top level; its parent must not be a symbolic link.
func (o fsOps) Mkdir(p string) error {
	full := filepath.Join(o.Mountpoint(), filepath.FromSlash(p))
	if fi, err := os.Lstat(filepath.Dir(full)); err != nil || !fi.IsDir() {
		return fmt.Errorf("create directory %s: parent is not a directory: %v", p, err)
	}
	if err := unix.Mkdir(full, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", p, err)
	}
	if err := os.Chmod(full, 0o700); err != nil { // umask
		return fmt.Errorf("create directory %s: %w", p, err)
	}
	return nil
}

// Applier carries out a plan.
type Applier struct {
	Ops   Ops
	Log   *slog.Logger
	Audit *audit.Log // may be nil
	// Stop, when not nil, is asked after every step and stops the run when
	// it returns true. Only tests set it (a crash after any step).
	Stop func(step string) bool
	// Signalled, when not nil, is asked after each step that leaves a safe
	// point (SafePoints) and stops the run when it returns true: a signal
	// (a unit timeout, a shutdown) lets the reset of the subvolume in
	// progress finish, so it leaves no S.new and no writable archive.
	Signalled func() bool
	Now       func() time.Time
	BootID    string
}

// Apply runs the steps in order and stops at the first failure: every later
// step depends on the earlier ones, and the state left is one Build repairs.
// It returns the number of steps done.
func (a *Applier) Apply(steps []Step) (int, error) {
	safe := SafePoints(steps)
	for i, s := range steps {
		start := a.Now()
		err := a.do(s)
		dur := a.Now().Sub(start)
		a.record(s, start, dur, err)
		if err != nil {
			return i, fmt.Errorf("step %d of %d (%s): %w", i+1, len(steps), s, err)
		}
		if a.Stop != nil && a.Stop(fmt.Sprintf("%d %s", i+1, s)) {
			return i + 1, ErrStopped
		}
		if safe[i] && i < len(steps)-1 && a.Signalled != nil && a.Signalled() {
			return i + 1, ErrStopped
		}
	}
	return len(steps), nil
}

// SafePoints says of each step whether the state after it is one a signal
// may stop the run in: no subvolume that this plan made as S.new is left
// (it is swapped in and the old state swapped out is archived or deleted,
// or it is renamed into place), and no archive it renamed is still
// writable. The state after any step is one the next run repairs (a
// crash, SIGKILL or a forced stop leaves it); a stop at a safe point
// leaves nothing to repair.
func SafePoints(steps []Step) []bool {
	open := map[string]bool{} // S.new made, archives not yet read-only
	out := make([]bool, len(steps))
	for i, s := range steps {
		switch s.Op {
		case OpSnapshot, OpCreate:
			if strings.HasSuffix(s.Path, names.NewSuffix) {
				open[s.Path] = true
			}
		case OpRename:
			delete(open, s.Path)
			if s.Action == "archive" {
				open[s.To] = true
			}
		case OpReadOnly:
			if s.Value == "true" {
				delete(open, s.Path)
			}
		case OpDelete:
			delete(open, s.Path)
		}
		out[i] = len(open) == 0
	}
	return out
}

func (a *Applier) do(s Step) error {
	switch s.Op {
	case OpSnapshot:
		return a.Ops.Snapshot(s.From, s.Path, false)
	case OpCreate:
		return a.Ops.CreateSubvolume(s.Path)
	case OpNoCoW:
		return a.Ops.SetNoCoW(s.Path)
	case OpCompression:
		return a.Ops.SetCompression(s.Path, s.Value)
	case OpExchange:
		return a.Ops.Exchange(s.Path, s.To)
	case OpRename:
		return a.Ops.Rename(s.Path, s.To)
	case OpMkdir:
		return a.Ops.Mkdir(s.Path)
	case OpReadOnly:
		return a.Ops.SetReadOnly(s.Path, s.Value == "true")
	case OpDelete:
		return a.Ops.Delete(s.ID)
	case OpCommit:
		return a.Ops.Commit()
	}
	return fmt.Errorf("unknown step %q", s.Op)
}

// record logs a step and appends it to the audit log when it is one an
// operator looks for (archives, deletions, repairs) or failed.
func (a *Applier) record(s Step, start time.Time, dur time.Duration, err error) {
	log := a.Log.With("subvolume", s.Subvolume, "op", string(s.Op), "duration", dur)
	p := s.To
	if p == "" {
		p = s.Path
	}
	switch {
	case err != nil:
		log.Error("rollback step failed", journal.MessageID(msgid.RollbackFailed), "step", s.String(), "error", err)
	case s.Action == "prune" && s.Op == OpDelete:
		log.Info("archive deleted by retention", journal.MessageID(msgid.ArchivePruned), "path", s.Path, "subvolume_id", s.ID)
	default:
		log.Debug("rollback step done", "step", s.String())
	}
	if a.Audit == nil {
		return
	}
	interesting := err != nil || s.Op == OpDelete || s.Op == OpExchange || (s.Op == OpRename)
	if !interesting {
		return
	}
	e := audit.Event{Time: start, Job: "rollback", Action: s.Action + ":" + string(s.Op), Subvolume: s.Subvolume,
		Path: p, Result: audit.ResultSuccess, Duration: dur.Seconds(), BootID: a.BootID}
	if err != nil {
		e.Result, e.Error = audit.ResultFailure, err.Error()
	}
	if aerr := a.Audit.Write(e); aerr != nil { // the run's final event syncs
		a.Log.Warn("audit log append failed", "error", aerr)
	}
}
