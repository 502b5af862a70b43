package targetdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

// List returns the subvolumes in <root>/<sv>/ with their received UUIDs
// ("" for one btrfs receive did not make, or that is not read-only),
// sorted by name. Only subvolumes whose roots are entries of that very
// directory count: not a symbolic link to one, not one deeper down or
// below .incoming, not one deleted and waiting for the cleaner.
//
// It reads the filesystem's root tree (btrfs.ChildrenOf: a few calls
// whatever the number of snapshots) and needs CAP_SYS_ADMIN for that;
// without it (an unprivileged caller) it reads the directory and opens
// each subvolume in it (ListEach).
func (d Dir) List(sv string) ([]replicate.Held, error) {
	held, errs := d.ListAll([]string{sv})
	return held[0], errs[0]
}

// ListAll is List of each of svs (held[i] and errs[i] are those of
// svs[i]), reading the root tree once for all of them.
func (d Dir) ListAll(svs []string) (held [][]replicate.Held, errs []error) {
	subs, errs := d.subvolumes(svs)
	held = make([][]replicate.Held, len(svs))
	for i, s := range subs {
		if errs[i] == nil {
			held[i] = heldOf(s)
		}
	}
	return held, errs
}

// ListEach is List by reading <root>/<sv>/ and opening each subvolume in
// it (GET_SUBVOL_INFO, no privilege needed): five calls per entry.
func (d Dir) ListEach(sv string) ([]replicate.Held, error) {
	s, err := d.openEach(sv)
	if err != nil {
		return nil, err
	}
	return heldOf(s), nil
}

// UUIDs returns the UUIDs of the subvolumes List counts in <root>/<sv>/,
// received or not.
func (d Dir) UUIDs(sv string) ([]btrfs.UUID, error) {
	subs, errs := d.subvolumes([]string{sv})
	if errs[0] != nil {
		return nil, errs[0]
	}
	out := make([]btrfs.UUID, 0, len(subs[0]))
	for _, c := range subs[0] {
		out = append(out, c.UUID)
	}
	return out, nil
}

// Repair makes read-only again a received subvolume in <root>/<sv>/ that
// a crash left writable between the two flag changes of the move into
// place, and returns the names repaired. It finds them as List does and
// opens only those.
func (d Dir) Repair(sv string) ([]string, error) {
	subs, errs := d.subvolumes([]string{sv})
	if errs[0] != nil {
		return nil, errs[0]
	}
	var out []string
	for _, c := range subs[0] {
		if c.ReceivedUUID.IsZero() || c.ReadOnly {
			continue
		}
		fixed, err := repair(d.Path(sv, c.Name))
		if err != nil {
			return out, err
		}
		if fixed {
			out = append(out, c.Name)
		}
	}
	return out, nil
}

// repair makes the subvolume at p (not followed) read-only if it is a
// received one left writable, and reports whether it did.
func repair(p string) (bool, error) {
	bd, err := btrfs.OpenDir(p)
	if err != nil {
		return false, err
	}
	defer bd.Close()
	info, err := bd.Info()
	if err != nil || info.ReceivedUUID.IsZero() || info.ReadOnly {
		return false, err
	}
	if err := bd.SetReadOnly(true); err != nil {
		return false, err
	}
	return true, nil
}

// subvolumes returns the subvolumes in <root>/<sv>/ of each of svs, sorted
// by name: from one walk of the root tree, or, refused it, by opening
// each (openEach).
func (d Dir) subvolumes(svs []string) (subs [][]btrfs.Child, errs []error) {
	subs, errs = make([][]btrfs.Child, len(svs)), make([]error, len(svs))
	var dirs []*btrfs.Dir
	var at []int // svs' index of each of dirs
	for i, sv := range svs {
		bd, err := openListed(d.Path(sv, ""))
		switch {
		case err != nil:
			errs[i] = err
		case bd == nil: // nothing received yet
			subs[i] = []btrfs.Child{}
		default:
			defer bd.Close()
			dirs, at = append(dirs, bd), append(at, i)
		}
	}
	if len(dirs) == 0 {
		return subs, errs
	}
	children, err := btrfs.ChildrenOf(dirs)
	for j, i := range at {
		switch {
		case errors.Is(err, os.ErrPermission):
			subs[i], errs[i] = d.openEach(svs[i])
		case err != nil:
			errs[i] = fmt.Errorf("list target %s: %w", d.Path(svs[i], ""), err)
		default:
			subs[i] = children[j]
		}
	}
	return subs, errs
}

// openListed opens the directory List reads, following symbolic links as
// reading it by its path does; nil and no error when it does not exist
// (nothing received yet).
func openListed(dir string) (*btrfs.Dir, error) {
	bd, err := btrfs.OpenDirFollow(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list target %s: %w", dir, err)
	}
	return bd, nil
}

// openEach is subvolumes by reading <root>/<sv>/ and opening each
// subvolume root in it.
func (d Dir) openEach(sv string) ([]btrfs.Child, error) {
	dir := d.Path(sv, "")
	entries, err := readDir("list target", dir)
	if err != nil {
		return nil, err
	}
	out := []btrfs.Child{}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !IsSubvolume(p) {
			continue
		}
		info, err := Info(p)
		if err != nil {
			return nil, err
		}
		out = append(out, btrfs.Child{Name: e.Name(), Subvolume: info})
	}
	slices.SortFunc(out, func(a, b btrfs.Child) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// heldOf is List's view of subvolumes: the received UUID of a read-only
// received one.
func heldOf(subs []btrfs.Child) []replicate.Held {
	out := make([]replicate.Held, 0, len(subs))
	for _, s := range subs {
		h := replicate.Held{Name: s.Name}
		if !s.ReceivedUUID.IsZero() && s.ReadOnly {
			h.ReceivedUUID = s.ReceivedUUID.String()
		}
		out = append(out, h)
	}
	return out
}
