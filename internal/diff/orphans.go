package diff

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// Orphan is a path on the persist subvolume that no persisted path of the
// configuration covers: it survives reboots but nothing binds it into the
// root any more.
type Orphan struct {
	Path string `json:"path"` // where it is, e.g. /persist/etc/old-app
	// For is the path it was persisted for, e.g. /etc/old-app.
	For  string `json:"for"`
	Type string `json:"type"`
	// Size is the sum of the sizes of the regular files in it.
	Size  uint64 `json:"size"`
	Files int    `json:"files"`
}

// Orphans walks dir, the root of the persist subvolume (persisted path P is
// stored at dir/P), mounted at mountpoint in the booted system, and returns
// what is neither a persisted path nor a directory on the way to one,
// sorted by path. Nothing below an orphan is reported separately.
func Orphans(cfg *config.Config, dir, mountpoint string) ([]Orphan, error) {
	keep := map[string]bool{}
	ancestors := map[string]bool{"/": true}
	for _, p := range slices.Concat(cfg.Persist.Directories, cfg.Persist.Files) {
		keep[p.Path] = true
		for a := path.Dir(p.Path); a != "/"; a = path.Dir(a) {
			ancestors[a] = true
		}
	}
	var out []Orphan
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		abs := path.Join("/", filepath.ToSlash(rel))
		switch {
		case keep[abs]:
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case ancestors[abs] && d.IsDir():
			return nil
		}
		o := Orphan{Path: path.Join(mountpoint, abs), For: abs, Type: fileType(d.Type())}
		if err := du(p, &o); err != nil {
			return err
		}
		out = append(out, o)
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	slices.SortFunc(out, func(a, b Orphan) int { return strings.Compare(a.Path, b.Path) })
	return out, err
}

// du adds up the regular files at or below p.
func du(p string, o *Orphan) error {
	return filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			o.Size += uint64(fi.Size())
			o.Files++
		}
		return nil
	})
}

// PersistDir returns the persist subvolume's root under the top level at
// top and its mountpoint, or false when the configuration has none.
func PersistDir(cfg *config.Config, top string) (dir, mountpoint string, ok bool) {
	sv, ok := cfg.Subvolume(cfg.Persist.Subvolume)
	if !ok {
		return "", "", false
	}
	_, err := os.Stat(filepath.Join(top, sv.Name))
	return filepath.Join(top, sv.Name), sv.Mountpoint, err == nil
}
