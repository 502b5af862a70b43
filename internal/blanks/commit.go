package blanks

import (
	"fmt"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// Commit is the plan of a commit of a new blank for s: the current blank
// becomes the former blank Retire, the decisions on the former blanks
// after it, and the trial the new blank starts (nil: [blank] tries = 0).
type Commit struct {
	Subvolume string     `json:"subvolume"`
	Blank     string     `json:"blank"`
	Retire    string     `json:"retire"`
	Prune     []Decision `json:"prune"`
	// Trial lacks the new blank's UUID, known once it is built.
	Trial *Trial `json:"trial,omitempty"`
}

// Delete returns the former blanks the commit deletes.
func (c Commit) Delete() []string {
	var out []string
	for _, d := range c.Prune {
		if d.Delete {
			out = append(out, d.Name)
		}
	}
	return out
}

// PlanCommit plans the commit at now of a new blank for the ephemeral
// subvolume s, whose current blank exists in subs. mounted are the ids of
// mounted subvolumes; trial is the trial file (nil for none). The current
// blank retires to the name of now, or of the first second after it whose
// name is free (commits within one second).
func PlanCommit(cfg *config.Config, s config.Subvolume, subs map[string]btrfs.Subvolume, mounted map[uint64]bool,
	trial *Trial, now time.Time) (Commit, error) {
	cur, ok := subs[s.Blank]
	if !ok {
		return Commit{}, fmt.Errorf("commit a blank for %s: its blank %s does not exist", s.Name, s.Blank)
	}
	name, at := FreeName(s.Blank, now, func(n string) bool { _, ok := subs[n]; return ok })
	c := Commit{Subvolume: s.Name, Blank: s.Blank, Retire: name}
	retired := entry(cur)
	retired.Name, retired.Replaced = c.Retire, at
	// The previous good blank: the current one, unless it is itself on a
	// trial no boot confirmed; then that trial's fallback.
	fallback, fallbackUUID := c.Retire, uuid(cur.UUID)
	if trial != nil && trial.Subvolume == s.Name && trial.Blank == s.Blank && trial.UUID == uuid(cur.UUID) {
		if fb, ok := byUUID(subs, trial.FallbackUUID); ok {
			fallback, fallbackUUID = fb.Path, trial.FallbackUUID
		}
	}
	protect := map[string]string{}
	if live, ok := subs[s.Name]; ok && !live.ParentUUID.IsZero() {
		protect[uuid(live.ParentUUID)] = "the running system came from it"
	}
	if cfg.Blank.Tries > 0 {
		protect[fallbackUUID] = "the previous good blank, which a fallback would use"
		c.Trial = &Trial{Version: TrialVersion, Subvolume: s.Name, Blank: s.Blank, Committed: now.UTC().Truncate(time.Second),
			Fallback: fallback, FallbackUUID: fallbackUUID}
	}
	for p, sv := range subs {
		if mounted[sv.ID] {
			protect[uuid(sv.UUID)] = "mounted (" + p + ")"
		}
	}
	former := append([]Entry{retired}, Former(History(s.Blank, subs))...)
	c.Prune = Select(former, cfg.Blank.Keep, protect)
	return c, nil
}

// FreeName returns the name a blank replaced at t retires to: that of t,
// or of the first second after it whose name taken says is free.
func FreeName(blank string, t time.Time, taken func(string) bool) (string, time.Time) {
	at := t.UTC().Truncate(time.Second)
	for taken(names.BlankHistory(blank, at)) {
		at = at.Add(time.Second)
	}
	return names.BlankHistory(blank, at), at
}

// Swapped says whether what an interrupted commit left under the
// temporary name, temp, next to the current blank cur is the former blank,
// exchanged out but not yet renamed into the history (it was made before
// cur: a lower id), rather than a new blank never exchanged in (made after
// cur). The former one retires to the name of cur's creation time
// (FreeName), about the time of the commit that replaced it.
func Swapped(cur, temp btrfs.Subvolume) bool { return temp.ID < cur.ID }
