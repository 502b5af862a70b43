package snapshot

import (
	"cmp"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// Kinds of snapshot.
const (
	KindTimeline = "timeline"
	KindManual   = "manual"
	KindUnknown  = "unknown" // a subvolume in the snapshots dir with a name we did not make
)

// Entry is one subvolume found in the snapshots directory.
type Entry struct {
	Subvolume string    `json:"subvolume"` // the snapshotted subvolume, e.g. "@nix"
	Name      string    `json:"name"`
	Path      string    `json:"path"` // relative to the top level
	ID        uint64    `json:"id"`
	Time      time.Time `json:"time,omitzero"` // from the name; authoritative
	OTime     time.Time `json:"otime"`         // the subvolume's creation time
	Kind      string    `json:"kind"`
	Label     string    `json:"label,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	ReadOnly  bool      `json:"read_only"`
	// Problems found: writable, otime far from the name's time, bad sidecar.
	Problems []string `json:"problems,omitempty"`
}

// otimeSlack is how far a snapshot's otime may be from its name's time
// before the mismatch is reported (a run waits at most a second before it
// names its snapshots; a slow run takes a few more).
const otimeSlack = 5 * time.Minute

// List returns the snapshots below dir (the snapshots subvolume, relative
// to the top level) from one listing of subvols, sorted by subvolume, time,
// name. Absolute paths of sidecars are under mount.
func List(subvols []btrfs.Subvolume, dir, mount string) []Entry {
	prefix := dir + "/"
	var out []Entry
	for _, s := range subvols {
		rel, ok := strings.CutPrefix(s.Path, prefix)
		if !ok {
			continue
		}
		sv, name := path.Split(rel)
		e := Entry{Subvolume: strings.TrimSuffix(sv, "/"), Name: name, Path: s.Path, ID: s.ID,
			OTime: s.OTime, ReadOnly: s.ReadOnly, Kind: KindUnknown}
		if t, label, ok := names.ParseSnapshot(name); ok && e.Subvolume != "" {
			e.Time, e.Label, e.Kind = t, label, KindTimeline
			if label != "" {
				e.Kind = KindManual
				m, err := readMeta(filepath.Join(mount, s.Path))
				if err != nil {
					e.Problems = append(e.Problems, "unreadable expiry: "+err.Error())
				}
				e.Expires = m.Expires
			}
			if d := s.OTime.Sub(t); d > otimeSlack || d < -otimeSlack {
				e.Problems = append(e.Problems, "created "+s.OTime.Format(time.RFC3339)+", not at the time in its name (a clock was wrong); retention uses the name")
			}
		}
		if !e.ReadOnly {
			e.Problems = append(e.Problems, "writable: a snapshot must be read-only")
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.Subvolume, b.Subvolume), a.Time.Compare(b.Time), strings.Compare(a.Name, b.Name))
	})
	return out
}
