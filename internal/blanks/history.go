package blanks

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// Entry is one blank of a history: the configured (current) one or a
// former one.
type Entry struct {
	// Name is the path relative to the top level.
	Name    string `json:"name"`
	Current bool   `json:"current"`
	// Committed is when the blank was committed: the time in the name of
	// a former one is when the next blank replaced it, so each entry's
	// commit time is its creation time (OTime).
	Committed time.Time `json:"committed"`
	// Replaced is when the next blank replaced it (a former one).
	Replaced   time.Time `json:"replaced,omitzero"`
	ID         uint64    `json:"id"`
	UUID       string    `json:"uuid"`
	ReadOnly   bool      `json:"read_only"`
	Generation uint64    `json:"generation"`
}

func entry(s btrfs.Subvolume) Entry {
	return Entry{Name: s.Path, Committed: s.OTime.UTC().Truncate(time.Second), ID: s.ID, UUID: uuid(s.UUID),
		ReadOnly: s.ReadOnly, Generation: s.Generation}
}

func uuid(u btrfs.UUID) string {
	if u.IsZero() {
		return ""
	}
	return u.String()
}

// History returns the entries of blank found in subs (by path relative to
// the top level): the current one first, when it exists, then the former
// ones, newest first. Names that are not the suite's own are ignored.
func History(blank string, subs map[string]btrfs.Subvolume) []Entry {
	var out []Entry
	if s, ok := subs[blank]; ok {
		e := entry(s)
		e.Current = true
		out = append(out, e)
	}
	var former []Entry
	for p, s := range subs {
		b, t, ok := names.ParseBlankHistory(p)
		if !ok || b != blank {
			continue
		}
		e := entry(s)
		e.Replaced = t
		former = append(former, e)
	}
	slices.SortFunc(former, func(x, y Entry) int { return cmp.Compare(y.Name, x.Name) })
	return append(out, former...)
}

// Former returns the former entries of a History.
func Former(h []Entry) []Entry {
	if len(h) > 0 && h[0].Current {
		return h[1:]
	}
	return h
}

// Decision is Select's verdict on a former blank.
type Decision struct {
	Entry
	Delete bool   `json:"delete"`
	Reason string `json:"reason"`
}

// Select decides which former blanks stay: the keep newest, and beyond
// them every one whose UUID protect names (with why: the running system's,
// the fallback's, a mounted one). former is newest first (History).
func Select(former []Entry, keep int, protect map[string]string) []Decision {
	out := make([]Decision, 0, len(former))
	for i, e := range former {
		d := Decision{Entry: e}
		switch why, ok := protect[e.UUID]; {
		case i < keep:
			d.Reason = fmt.Sprintf("one of the %d newest former blanks (blank.keep)", keep)
		case ok && e.UUID != "":
			d.Reason = "kept beyond blank.keep: " + why
		default:
			d.Delete, d.Reason = true, fmt.Sprintf("older than the %d newest former blanks (blank.keep)", keep)
		}
		out = append(out, d)
	}
	return out
}

// Owner returns the ephemeral subvolume whose blank is the system image:
// the one mounted at /, else the only ephemeral one with a blank; ok is
// false when there is none. Its blank is the one --blank-from and
// --commit fill, and the one the command line's blank= chooses.
func Owner(cfg *config.Config) (config.Subvolume, bool) {
	var withBlank []config.Subvolume
	for _, s := range cfg.Ephemeral() {
		if s.Blank == "" {
			continue
		}
		if s.Mountpoint == "/" {
			return s, true
		}
		withBlank = append(withBlank, s)
	}
	if len(withBlank) == 1 {
		return withBlank[0], true
	}
	return config.Subvolume{}, false
}
