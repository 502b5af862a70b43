package tune

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
)

// Dir is an open directory at a subvolume's mountpoint (btrfs.Dir; a fake
// in the logic tests).
type Dir interface {
	MountID() (int, error)
	Compression() (string, error)
	SetCompression(algo string) error
	NoCoW() (bool, error)
	SetNoCoW() error
	Close() error
}

// OpenFunc opens the directory at path.
type OpenFunc func(path string) (Dir, error)

func openBtrfsDir(path string) (Dir, error) {
	d, err := btrfs.OpenDir(path)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Tune applies every want, or with dryRun only says what it would change,
// and reports each. mounts is the mount table. Changes, skips and failures
// are logged (not in a dry run); a failure on one subvolume does not stop
// the others, and the returned error joins every failure.
func Tune(log *slog.Logger, wants []Want, mounts []btrfs.Mount, open OpenFunc, dryRun bool) (Report, error) {
	byID := make(map[int]btrfs.Mount, len(mounts))
	for _, m := range mounts {
		byID[m.ID] = m
	}
	rep := Report{DryRun: dryRun, Subvolumes: []Result{}}
	var errs []error
	for _, w := range wants {
		r := tuneOne(w, byID, open, dryRun)
		rep.Subvolumes = append(rep.Subvolumes, r)
		if r.Status == StatusFailed {
			errs = append(errs, fmt.Errorf("subvolume %s at %s: %s", w.Subvolume, w.Mountpoint, r.Error))
		}
		if !dryRun {
			logResult(log, r)
		}
	}
	return rep, errors.Join(errs...)
}

func tuneOne(w Want, byID map[int]btrfs.Mount, open OpenFunc, dryRun bool) Result {
	r := Result{Subvolume: w.Subvolume, Mountpoint: w.Mountpoint, Property: w.Property(), Value: w.Compression}
	fail := func(status Status, err error) Result {
		r.Status, r.Error = status, err.Error()
		return r
	}
	d, err := open(w.Mountpoint)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail(StatusSkipped, fmt.Errorf("nothing is mounted at %s (%w)", w.Mountpoint, err))
	}
	if err != nil {
		return fail(StatusFailed, err)
	}
	defer d.Close()
	id, err := d.MountID()
	if err != nil {
		return fail(StatusFailed, err)
	}
	m, ok := byID[id]
	if !ok {
		return fail(StatusSkipped, fmt.Errorf("the mount of %s (id %d) is not in the mount table read before: mounted meanwhile", w.Mountpoint, id))
	}
	if err := CheckMount(w, m); err != nil {
		return fail(StatusSkipped, err)
	}
	var st State
	if st.NoCoW, err = d.NoCoW(); err != nil {
		return fail(StatusFailed, err)
	}
	if st.Compression, err = d.Compression(); err != nil {
		return fail(StatusFailed, err)
	}
	r.Was = &st
	change, err := Decide(w, st)
	switch {
	case err != nil:
		return fail(StatusFailed, err)
	case !change:
		r.Status = StatusUnchanged
		return r
	case dryRun:
		r.Status = StatusWouldChange
		return r
	}
	if w.NoCoW {
		err = d.SetNoCoW()
	} else {
		err = d.SetCompression(w.Compression)
	}
	if err != nil {
		return fail(StatusFailed, err)
	}
	r.Status = StatusChanged
	return r
}

func logResult(log *slog.Logger, r Result) {
	l := log.With("subvolume", r.Subvolume, "mountpoint", r.Mountpoint, "property", r.Property, "result", string(r.Status))
	if r.Value != "" {
		l = l.With("value", r.Value)
	}
	switch r.Status {
	case StatusChanged:
		l.Info(fmt.Sprintf("%s at %s: %s set (was %s)", r.Subvolume, r.Mountpoint, r.Setting(), r.Previous()),
			journal.MessageID(msgid.TuneChanged), "previous", r.Previous())
	case StatusSkipped:
		l.Warn(fmt.Sprintf("%s at %s: %s not applied: %s", r.Subvolume, r.Mountpoint, r.Setting(), r.Error),
			journal.MessageID(msgid.TuneNotApplied), "error", r.Error)
	case StatusFailed:
		l.Error(fmt.Sprintf("%s at %s: %s failed: %s", r.Subvolume, r.Mountpoint, r.Setting(), r.Error),
			journal.MessageID(msgid.TuneNotApplied), "error", r.Error)
	}
}
