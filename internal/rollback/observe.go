package rollback

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

// Observe reads what Check and Build need from fsys.
func Observe(fsys *btrfs.FS, cfg *config.Config) (Observed, error) {
	subs, err := fsys.List()
	if err != nil {
		return Observed{}, err
	}
	obs := Observed{Subvolumes: map[string]btrfs.Subvolume{}, Mounted: map[uint64][]string{}, Entries: map[string][]string{}}
	for _, s := range subs {
		obs.Subvolumes[s.Path] = s
	}
	mounted, err := fsys.MountedSubvolumes()
	if err != nil {
		return Observed{}, err
	}
	for id, ms := range mounted {
		for _, m := range ms {
			obs.Mounted[id] = append(obs.Mounted[id], m.Mountpoint)
		}
	}
	for _, s := range cfg.Ephemeral() {
		if !s.Archive {
			continue
		}
		dir := path.Join(cfg.Archive.Dir, s.Name)
		names, err := readDir(fsys.Mountpoint(), dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Observed{}, err
		}
		obs.Entries[dir] = names
	}
	u, err := fsys.Usage()
	if err != nil {
		return Observed{}, err
	}
	obs.Free = u.FreeEstimate
	return obs, nil
}

// readDir lists the directory rel below top, refusing symbolic links on
// the way (the archive dir must be a real directory of the top level).
func readDir(top, rel string) ([]string, error) {
	p := top
	for _, c := range splitPath(rel) {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("archive directory %s: %s is not a directory", rel, p)
		}
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("read archive directory %s: %w", rel, err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func splitPath(rel string) []string {
	var out []string
	for dir := path.Clean(rel); dir != "." && dir != "/"; dir = path.Dir(dir) {
		out = append([]string{path.Base(dir)}, out...)
	}
	return out
}
