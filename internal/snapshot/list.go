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
	n := 0
	for _, s := range subvols {
		if strings.HasPrefix(s.Path, prefix) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]Entry, 0, n)
	// Every entry's Problems are a slice of pool (allocated with the first).
	var pool []string
	var msg []byte
	for _, s := range subvols {
		rel, ok := strings.CutPrefix(s.Path, prefix)
		if !ok {
			continue
		}
		sv, name := path.Split(rel)
		e := Entry{Subvolume: strings.TrimSuffix(sv, "/"), Name: name, Path: s.Path, ID: s.ID,
			OTime: s.OTime, ReadOnly: s.ReadOnly, Kind: KindUnknown}
		start := len(pool)
		if t, label, ok := names.ParseSnapshot(name); ok && e.Subvolume != "" {
			e.Time, e.Label, e.Kind = t, label, KindTimeline
			if label != "" {
				e.Kind = KindManual
				m, err := readMeta(filepath.Join(mount, s.Path))
				if err != nil {
					pool = addProblem(pool, n, "unreadable expiry: "+err.Error())
				}
				e.Expires = m.Expires
			}
			if d := s.OTime.Sub(t); d > otimeSlack || d < -otimeSlack {
				msg = s.OTime.AppendFormat(append(msg[:0], "created "...), time.RFC3339)
				msg = append(msg, ", not at the time in its name (a clock was wrong); retention uses the name"...)
				pool = addProblem(pool, n, string(msg))
			}
		}
		if !e.ReadOnly {
			pool = addProblem(pool, n, "writable: a snapshot must be read-only")
		}
		if len(pool) > start {
			e.Problems = pool[start:len(pool):len(pool)]
		}
		out = append(out, e)
	}
	sortEntries(out)
	return out
}

// addProblem appends p to pool, made with room for n the first time. A
// slice of pool stays valid when a later append moves it.
func addProblem(pool []string, n int, p string) []string {
	if pool == nil {
		pool = make([]string, 0, n)
	}
	return append(pool, p)
}

// sortEntries sorts by subvolume, time, name: keys (the subvolume's rank
// among the few there are, the time as two integers) sorted, then each entry
// moved once (an Entry is about 250 bytes; sorted in place, each moved a
// dozen times, and every comparison compared the subvolumes' names).
func sortEntries(es []Entry) {
	type sortKey struct {
		sv, i int32
		nsec  int32
		sec   int64
	}
	var svs []string
	for i := range es {
		if len(svs) == 0 || svs[len(svs)-1] != es[i].Subvolume {
			if !slices.Contains(svs, es[i].Subvolume) {
				svs = append(svs, es[i].Subvolume)
			}
		}
	}
	slices.Sort(svs)
	keys := make([]sortKey, len(es))
	last := -1
	for i := range es {
		e := &es[i]
		if last < 0 || svs[last] != e.Subvolume {
			last, _ = slices.BinarySearch(svs, e.Subvolume)
		}
		keys[i] = sortKey{sv: int32(last), i: int32(i), sec: e.Time.Unix(), nsec: int32(e.Time.Nanosecond())}
	}
	slices.SortFunc(keys, func(a, b sortKey) int {
		switch {
		case a.sv != b.sv:
			return cmp.Compare(a.sv, b.sv)
		case a.sec != b.sec:
			return cmp.Compare(a.sec, b.sec)
		case a.nsec != b.nsec:
			return cmp.Compare(a.nsec, b.nsec)
		}
		return strings.Compare(es[a.i].Name, es[b.i].Name)
	})
	// es[k] = old es[keys[k].i], cycle by cycle; keys[k].i = k marks k done.
	for k := range es {
		if keys[k].i == int32(k) {
			continue
		}
		tmp := es[k]
		j := k
		for {
			next := int(keys[j].i)
			keys[j].i = int32(j)
			if next == k {
				es[j] = tmp
				break
			}
			es[j] = es[next]
			j = next
		}
	}
}
