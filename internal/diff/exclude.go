package diff

import (
	"path"
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// AlwaysExcluded are the API filesystems and scratch mountpoints that are
// never part of a root's state.
var AlwaysExcluded = []string{"/proc", "/sys", "/run", "/tmp"}

// Exclusion is a path whose subtree is not reported, and why.
type Exclusion struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Exclusion reasons.
const (
	ReasonAPI        = "api filesystem or scratch"
	ReasonPersisted  = "persisted"
	ReasonSubvolume  = "subvolume mountpoint"
	ReasonMount      = "mount"
	ReasonSnapshots  = "snapshots mountpoint"
	ReasonPersistDir = "persist mountpoint"
)

// Exclusions returns the paths (absolute, in the booted system's namespace)
// not reported for subvolume sv: the API filesystems, the persisted paths,
// the mountpoints of the other subvolumes and of the snapshots subvolume,
// and mounts (given relative to sv's mountpoint, e.g. "/mnt"), sorted by
// path, each once (the first reason in that order wins).
func Exclusions(cfg *config.Config, sv config.Subvolume, mounts []string) []Exclusion {
	var out []Exclusion
	seen := map[string]bool{}
	add := func(p, why string) {
		p = path.Clean(p)
		if seen[p] || p == "/" || !Under(p, sv.Mountpoint) || p == sv.Mountpoint {
			return
		}
		seen[p] = true
		out = append(out, Exclusion{p, why})
	}
	for _, p := range AlwaysExcluded {
		add(p, ReasonAPI)
	}
	for _, p := range cfg.Persist.Directories {
		add(p.Path, ReasonPersisted)
	}
	for _, p := range cfg.Persist.Files {
		add(p.Path, ReasonPersisted)
	}
	for _, s := range cfg.Subvolumes {
		if s.Name == cfg.Persist.Subvolume {
			add(s.Mountpoint, ReasonPersistDir)
		} else if s.Name != sv.Name {
			add(s.Mountpoint, ReasonSubvolume)
		}
	}
	add(config.SnapshotsMountpoint, ReasonSnapshots)
	for _, m := range mounts {
		add(path.Join(sv.Mountpoint, m), ReasonMount)
	}
	slices.SortFunc(out, func(a, b Exclusion) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// Under reports whether p is dir or lies below it (both clean and absolute).
func Under(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// Excluded returns the exclusion that covers p, if any.
func Excluded(ex []Exclusion, p string) (Exclusion, bool) {
	for _, e := range ex {
		if Under(p, e.Path) {
			return e, true
		}
	}
	return Exclusion{}, false
}
