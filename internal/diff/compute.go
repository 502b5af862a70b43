package diff

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

// Statuses of an entry.
const (
	Added   = "added"
	Changed = "changed"
	Removed = "removed"
)

// Entry is one path the next boot changes back.
type Entry struct {
	Path   string `json:"path"` // absolute, in the booted system's namespace
	Status string `json:"status"`
	Type   string `json:"type"` // file, dir, symlink, subvolume, device, fifo, socket
	// Size in bytes: of the live file (added, changed) or of the blank's
	// (removed); 0 for directories and subvolumes.
	Size uint64 `json:"size"`
}

// Tree is what Compute needs from the filesystem (a *btrfs.FS).
type Tree interface {
	Mountpoint() string
	Info(path string) (btrfs.Subvolume, error)
	Commit() error
	Changed(id, gen uint64) ([]btrfs.ChangedInode, error)
	Inode(id, ino uint64) (btrfs.Inode, error)
	ReadDir(id, dir uint64) ([]btrfs.DirEntry, error)
	InodePath(id, ino uint64) (string, error)
}

const rootIno = 256

// Compute returns what differs between the live subvolume sv and its blank,
// outside ex, sorted by path: what the live subvolume changed since the two
// were identical (see NewSource), with the blank as the reference for what
// existed then.
func Compute(t Tree, sv config.Subvolume, ex []Exclusion) ([]Entry, Source, error) {
	live, err := t.Info(sv.Name)
	if err != nil {
		return nil, Source{}, err
	}
	var blank btrfs.Subvolume
	if sv.Blank != "" {
		if blank, err = t.Info(sv.Blank); err != nil {
			return nil, Source{Live: live}, fmt.Errorf("blank of %s: %w", sv.Name, err)
		}
	}
	src, err := NewSource(sv, live, blank)
	if err != nil {
		return nil, src, err
	}
	// Delayed inode and directory updates reach the tree at the commit.
	if err := t.Commit(); err != nil {
		return nil, src, err
	}
	gen := src.Since
	changed, err := t.Changed(src.Live.ID, gen)
	if err != nil {
		return nil, src, err
	}
	c := computer{t: t, sv: sv, ex: ex, src: src, gen: gen, paths: map[uint64]string{rootIno: ""}}
	for i := range changed {
		c.byIno(&changed[i])
	}
	c.paths = nil
	for _, in := range changed {
		if err := c.inode(in); err != nil {
			return nil, src, fmt.Errorf("compare %s with %s: %w", sv.Name, cmp.Or(sv.Blank, "an empty subvolume"), err)
		}
	}
	slices.SortFunc(c.out, func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Status, b.Status))
	})
	return c.out, src, nil
}

type computer struct {
	t     Tree
	sv    config.Subvolume
	ex    []Exclusion
	src   Source
	gen   uint64
	out   []Entry
	refs  map[uint64]btrfs.InodeRef // first name of each changed inode
	paths map[uint64]string         // resolved paths (relative, "" = root)
}

// byIno records the first name of in for path resolution.
func (c *computer) byIno(in *btrfs.ChangedInode) {
	if c.refs == nil {
		c.refs = map[uint64]btrfs.InodeRef{}
	}
	for _, r := range in.Refs {
		if in.Ino != rootIno {
			c.refs[in.Ino] = r
			return
		}
	}
}

// path returns the path of live inode ino relative to the subvolume root,
// from the names in the changed part of the tree, else one INO_LOOKUP.
func (c *computer) path(ino uint64) (string, error) {
	if c.paths == nil {
		c.paths = map[uint64]string{rootIno: ""}
	}
	if p, ok := c.paths[ino]; ok {
		return p, nil
	}
	var p string
	if r, ok := c.refs[ino]; ok && r.Dir != ino {
		dir, err := c.path(r.Dir)
		if err != nil {
			return "", err
		}
		p = path.Join(dir, r.Name)
	} else {
		var err error
		if p, err = c.t.InodePath(c.src.Live.ID, ino); err != nil {
			return "", err
		}
	}
	c.paths[ino] = p
	return p, nil
}

// abs returns the absolute path of rel in the booted system.
func (c *computer) abs(rel string) string { return path.Join(c.sv.Mountpoint, rel) }

func (c *computer) add(rel, status, typ string, size uint64) {
	p := c.abs(rel)
	if _, ok := Excluded(c.ex, p); ok || rel == "" {
		return
	}
	if typ == "dir" || typ == "subvolume" {
		size = 0
	}
	c.out = append(c.out, Entry{Path: p, Status: status, Type: typ, Size: size})
}

func (c *computer) inode(in btrfs.ChangedInode) error {
	rel, err := c.path(in.Ino)
	if err != nil {
		return err
	}
	if _, ok := Excluded(c.ex, c.abs(rel)); ok {
		return nil
	}
	var old btrfs.Inode
	existed := in.Generation <= c.gen
	if existed {
		old, err = c.t.Inode(c.src.Blank.ID, in.Ino)
		if errors.Is(err, btrfs.ErrNotExist) {
			existed = false
		} else if err != nil {
			return err
		}
	}
	switch {
	case !existed:
		c.add(rel, Added, modeType(in.Mode), in.Size)
		for _, s := range in.Subvolumes {
			c.add(path.Join(rel, s.Name), Added, "subvolume", 0)
		}
		return nil
	case in.IsDir():
		if in.Mode != old.Mode || in.UID != old.UID || in.GID != old.GID {
			c.add(rel, Changed, "dir", 0)
		}
		return c.dir(in.Ino, rel)
	case in.CTime.Equal(old.CTime) && in.MTime.Equal(old.MTime) && in.Size == old.Size:
		return nil // atime only
	default:
		c.add(rel, Changed, modeType(in.Mode), in.Size)
		return nil
	}
}

// dir compares the entries of a directory that exists in both trees:
// entries of the blank that are gone (or now another inode) are removed,
// with everything below them; new nested subvolumes are added. New files
// are reported through their own inodes.
func (c *computer) dir(ino uint64, rel string) error {
	live, err := c.t.ReadDir(c.src.Live.ID, ino)
	if err != nil {
		return err
	}
	blank, err := c.t.ReadDir(c.src.Blank.ID, ino)
	if err != nil {
		return err
	}
	now := make(map[string]btrfs.DirEntry, len(live))
	for _, e := range live {
		now[e.Name] = e
	}
	was := make(map[string]bool, len(blank))
	for _, e := range blank {
		was[e.Name] = true
		if n, ok := now[e.Name]; ok && n.Ino == e.Ino && n.Subvolume == e.Subvolume {
			continue
		}
		if err := c.removed(path.Join(rel, e.Name), e); err != nil {
			return err
		}
	}
	for _, e := range live {
		if e.Subvolume && !was[e.Name] {
			c.add(path.Join(rel, e.Name), Added, "subvolume", 0)
		}
	}
	return nil
}

// removed reports the blank's entry e at rel, and for a directory all that
// is below it, read through the blank's directory tree.
func (c *computer) removed(rel string, e btrfs.DirEntry) error {
	if _, ok := Excluded(c.ex, c.abs(rel)); ok {
		return nil
	}
	if e.Subvolume {
		c.add(rel, Removed, "subvolume", 0)
		return nil
	}
	if e.Type != btrfs.FTDir {
		in, err := c.t.Inode(c.src.Blank.ID, e.Ino)
		if err != nil {
			return err
		}
		c.add(rel, Removed, modeType(in.Mode), in.Size)
		return nil
	}
	root := filepath.Join(c.t.Mountpoint(), c.sv.Blank)
	return filepath.WalkDir(filepath.Join(root, rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(root, p)
		if _, ok := Excluded(c.ex, c.abs(r)); ok {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() && isSubvolumeRoot(fi) {
			// A nested subvolume (or its empty placeholder in a snapshot).
			c.add(r, Removed, "subvolume", 0)
			return filepath.SkipDir
		}
		c.add(r, Removed, fileType(fi.Mode()), uint64(fi.Size()))
		return nil
	})
}

// isSubvolumeRoot reports the root of a subvolume (inode 256) or the empty
// placeholder a snapshot holds in place of a nested subvolume (inode 2).
func isSubvolumeRoot(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (st.Ino == rootIno || st.Ino == 2)
}

// modeType names the file type of an st_mode.
func modeType(mode uint32) string {
	switch mode & 0o170000 {
	case 0o100000:
		return "file"
	case 0o040000:
		return "dir"
	case 0o120000:
		return "symlink"
	case 0o020000, 0o060000:
		return "device"
	case 0o010000:
		return "fifo"
	case 0o140000:
		return "socket"
	}
	return "other"
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "dir"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "other"
}
