// Package inventory is the archive inventory: how many archived previous
// states of each ephemeral subvolume the archive dir holds, and their time
// span. The archive dir is reachable only through the filesystem's top
// level, which a server does not mount and the exporter never mounts; the
// jobs that mount it privately anyway (the initrd rollback, which archives
// and prunes at every boot, and the cleanup) record the inventory in their
// state directory (archives.json, written atomically) after their work, and
// the exporter reads the newer of the two and its time.
package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/safefile"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// File is the inventory's name in a state directory.
const File = "archives.json"

// maxFile bounds the file when reading.
const maxFile = 1 << 20

// Path returns the inventory file in the state directory dir.
func Path(dir string) string { return filepath.Join(dir, File) }

// Subvolume is the archives of one ephemeral subvolume: the entries of
// <archive dir>/<subvolume>/ whose names are archive names (names.Archive).
type Subvolume struct {
	Name   string    `json:"subvolume"`
	Count  int       `json:"count"`
	Oldest time.Time `json:"oldest,omitzero"` // the time in the oldest name
	Newest time.Time `json:"newest,omitzero"`
}

// Inventory is the archive dir at one moment.
type Inventory struct {
	Taken      time.Time   `json:"taken"`
	Job        string      `json:"job"` // who took it: rollback, cleanup
	Subvolumes []Subvolume `json:"subvolumes"`
}

// Take builds the inventory of the archived ephemeral subvolumes of cfg
// from the filesystem's subvolumes (btrfs.FS.List).
func Take(cfg *config.Config, subvols []btrfs.Subvolume, job string, now time.Time) Inventory {
	inv := Inventory{Taken: now.UTC(), Job: job, Subvolumes: []Subvolume{}}
	for _, sv := range cfg.Ephemeral() {
		if !sv.Archive {
			continue
		}
		prefix := path.Join(cfg.Archive.Dir, sv.Name) + "/"
		e := Subvolume{Name: sv.Name}
		for _, s := range subvols {
			name, ok := strings.CutPrefix(s.Path, prefix)
			if !ok || strings.Contains(name, "/") {
				continue
			}
			t, _, _, ok := names.ParseArchive(name)
			if !ok {
				continue
			}
			if e.Count == 0 || t.Before(e.Oldest) {
				e.Oldest = t
			}
			if e.Count == 0 || t.After(e.Newest) {
				e.Newest = t
			}
			e.Count++
		}
		inv.Subvolumes = append(inv.Subvolumes, e)
	}
	return inv
}

// Record lists fsys and writes its inventory into the state directory dir.
func Record(fsys *btrfs.FS, cfg *config.Config, dir, job string, now time.Time) error {
	subvols, err := fsys.List()
	if err != nil {
		return fmt.Errorf("archive inventory: %w", err)
	}
	return Write(dir, Take(cfg, subvols, job, now))
}

// Write replaces the inventory in dir atomically.
func Write(dir string, inv Inventory) error {
	b, err := json.MarshalIndent(inv, "", "  ")
	if err == nil {
		err = safefile.Replace(Path(dir), append(b, '\n'), safefile.Perm{File: state.FileMode, Dir: state.DirMode}, safefile.Atomic)
	}
	if err != nil {
		return fmt.Errorf("write archive inventory %s: %w", Path(dir), err)
	}
	return nil
}

// Read returns the inventory in dir; none is fs.ErrNotExist.
func Read(dir string) (Inventory, error) {
	b, err := safefile.ReadFile(Path(dir), maxFile)
	if err != nil {
		return Inventory{}, err
	}
	var inv Inventory
	if err := json.Unmarshal(b, &inv); err != nil {
		return Inventory{}, fmt.Errorf("read archive inventory %s: %w", Path(dir), err)
	}
	return inv, nil
}

// Newest returns the newer of the inventories in dirs (the rollback's in
// the run directory, the cleanup's in the state directory); ok is false
// when there is none. A damaged one is an error, unless another is read.
func Newest(dirs ...string) (inv Inventory, ok bool, err error) {
	var errs []error
	for _, d := range dirs {
		i, err := Read(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, err)
		case !ok || i.Taken.After(inv.Taken):
			inv, ok = i, true
		}
	}
	if ok {
		return inv, true, nil
	}
	return Inventory{}, false, errors.Join(errs...)
}
