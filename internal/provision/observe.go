package provision

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// subvolumeRootIno is the inode number of every subvolume's root directory
// (BTRFS_FIRST_FREE_OBJECTID).
const subvolumeRootIno = 256

// Observe looks at each path (relative to the top level of fsys), and at
// every former blank of the blanks among them (names.BlankHistory). A
// subvolume's entry carries its listing (ID, UUID, parent UUID, times).
func Observe(fsys *btrfs.FS, paths []string) (Observed, error) {
	list, err := fsys.List()
	if err != nil {
		return nil, err
	}
	subs := map[string]btrfs.Subvolume{}
	for _, s := range list {
		subs[s.Path] = s
	}
	want := map[string]bool{}
	for _, p := range paths {
		want[p] = true
	}
	for _, s := range list {
		if b, _, ok := names.ParseBlankHistory(s.Path); ok && want[b] && !want[s.Path] {
			want[s.Path] = true
			paths = append(paths, s.Path)
		}
	}
	obs := Observed{}
	for _, p := range paths {
		e, err := observe(fsys, p)
		if err != nil {
			return nil, err
		}
		if e.Kind == Subvolume {
			e.Sub = subs[p]
		}
		if e.Kind != Missing {
			obs[p] = e
		}
	}
	return obs, nil
}

func observe(fsys *btrfs.FS, p string) (Entry, error) {
	full := filepath.Join(fsys.Mountpoint(), p)
	fi, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{Kind: Missing}, nil
	}
	if err != nil {
		return Entry{}, fmt.Errorf("inspect %s: %w", p, err)
	}
	e := Entry{Kind: Other, Mode: fi.Mode()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = st.Uid, st.Gid
		if fi.IsDir() && st.Ino == subvolumeRootIno {
			e.Kind = Subvolume
		}
	}
	if !fi.IsDir() {
		return e, nil
	}
	if e.Empty, err = isEmpty(full); err != nil {
		return Entry{}, fmt.Errorf("inspect %s: %w", p, err)
	}
	if e.Kind != Subvolume {
		e.Kind = Directory
		return e, nil
	}
	if e.ReadOnly, err = fsys.ReadOnly(p); err != nil {
		return Entry{}, err
	}
	if e.NoCoW, err = fsys.NoCoW(p); err != nil {
		return Entry{}, err
	}
	if e.Compression, err = fsys.Compression(p); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func isEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}
