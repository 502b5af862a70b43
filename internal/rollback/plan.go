package rollback

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/retention"
)

// Observed is what Build needs to know about the filesystem.
type Observed struct {
	// Subvolumes by path relative to the top level.
	Subvolumes map[string]btrfs.Subvolume
	// Mounted subvolume ids, with their mountpoints.
	Mounted map[uint64][]string
	// Entries are the names in each existing archive directory
	// (<archive dir>/<subvolume>), subvolumes or not.
	Entries map[string][]string
	// Free is the estimated free data space in bytes.
	Free uint64
}

// Op is the kind of a step.
type Op string

// The steps.
const (
	OpSnapshot    Op = "snapshot"        // Subvolume From → Path (writable)
	OpCreate      Op = "create"          // empty subvolume Path
	OpNoCoW       Op = "set-nocow"       // on Path
	OpCompression Op = "set-compression" // Value on Path
	OpExchange    Op = "exchange"        // Path ⇄ To
	OpRename      Op = "rename"          // Path → To, never replacing
	OpMkdir       Op = "mkdir"           // plain directory Path, 0700
	OpReadOnly    Op = "set-readonly"    // Value "true" or "false" on subvolume Path
	OpDelete      Op = "delete"          // subvolume ID (at Path when planned)
	OpCommit      Op = "commit"
)

// Step is one change. Each is a single kernel operation, so a crash happens
// between two of them.
type Step struct {
	Op        Op     `json:"op"`
	Subvolume string `json:"subvolume,omitempty"` // the ephemeral subvolume it serves
	Path      string `json:"path,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Value     string `json:"value,omitempty"`
	ID        uint64 `json:"id,omitempty"`
	// Action is the audit log's action: reset, archive, discard, prune, repair.
	Action string `json:"action"`
}

func (s Step) String() string {
	switch s.Op {
	case OpSnapshot:
		return fmt.Sprintf("snapshot %s → %s", s.From, s.Path)
	case OpCreate:
		return fmt.Sprintf("create empty subvolume %s", s.Path)
	case OpNoCoW:
		return fmt.Sprintf("set NoCoW on %s", s.Path)
	case OpCompression:
		return fmt.Sprintf("set compression=%s on %s", s.Value, s.Path)
	case OpExchange:
		return fmt.Sprintf("exchange %s ⇄ %s", s.Path, s.To)
	case OpRename:
		return fmt.Sprintf("rename %s → %s", s.Path, s.To)
	case OpMkdir:
		return fmt.Sprintf("mkdir %s", s.Path)
	case OpReadOnly:
		if s.Value == "false" {
			return fmt.Sprintf("clear read-only on %s", s.Path)
		}
		return fmt.Sprintf("set read-only on %s", s.Path)
	case OpDelete:
		return fmt.Sprintf("delete subvolume %d (%s)", s.ID, s.Path)
	case OpCommit:
		return "commit"
	}
	return string(s.Op)
}

// Options are the run's parameters.
type Options struct {
	Now    time.Time
	BootID string // 8 hex digits
	// MinFree is the free space below which the rollback refuses to start.
	MinFree uint64
	// Blanks are the blanks this boot resets from, by ephemeral subvolume
	// (blanks.Choose); a subvolume not in it resets from its configured blank.
	Blanks map[string]string
}

// Plan is what a run does.
type Plan struct {
	Steps []Step `json:"steps"`
	// Archives are the archive paths the run creates.
	Archives []string `json:"archives"`
	// Prune is the retention decision for every archive, by subvolume.
	Prune []retention.ArchiveDecision `json:"prune"`
	// Repairs describe the states of an interrupted run that are finished.
	Repairs  []string `json:"repairs"`
	Warnings []string `json:"warnings"`
}

// RefusalError is a reason not to touch anything; What says what to do.
type RefusalError struct {
	Subvolume string
	Reason    string
	What      string
}

func (e *RefusalError) Error() string {
	s := e.Reason
	if e.Subvolume != "" {
		s = e.Subvolume + ": " + s
	}
	if e.What != "" {
		s += "; " + e.What
	}
	return s
}

// Check returns every reason to refuse the rollback; nil means it is safe.
// It is called before any change, so a refusal leaves the current state.
func Check(cfg *config.Config, obs Observed, opt Options) []error {
	var errs []error
	refuse := func(sv, what, reason string, args ...any) {
		errs = append(errs, &RefusalError{Subvolume: sv, Reason: fmt.Sprintf(reason, args...), What: what})
	}
	keep := map[string]string{ // paths that must never be reset, with why
		cfg.Persist.Subvolume: "the persist subvolume",
		cfg.Snapshots.Dir:     "the snapshots subvolume",
	}
	for _, s := range cfg.Subvolumes {
		if s.Class != config.Ephemeral {
			keep[s.Name] = "permanent subvolume"
		}
	}
	persistMP := ""
	if p, ok := cfg.Subvolume(cfg.Persist.Subvolume); ok {
		persistMP = p.Mountpoint
	}
	fixCfg := "fix the configuration (server-impermanence-generator --check), then rebuild the initrd"
	for _, s := range cfg.Ephemeral() {
		for k, why := range keep {
			switch {
			case k == "":
			case k == s.Name || isBelow(s.Name, k):
				refuse(s.Name, fixCfg, "is (inside) %s %s: refusing to reset it", why, k)
			case isBelow(k, s.Name):
				refuse(s.Name, fixCfg, "contains %s %s, which a reset would move away", why, k)
			}
		}
		if persistMP != "" && persistMP != "/" && (s.Mountpoint == persistMP || strings.HasPrefix(s.Mountpoint, persistMP+"/")) {
			refuse(s.Name, fixCfg, "is mounted at %s inside the persisted %s: it holds persisted paths", s.Mountpoint, persistMP)
		}
		for p, sv := range obs.Subvolumes {
			mine := p == s.Name || isBelow(p, s.Name) || p == s.Name+names.NewSuffix || isBelow(p, s.Name+names.NewSuffix)
			if mine && len(obs.Mounted[sv.ID]) > 0 {
				refuse(s.Name, "the rollback runs in the initrd before the root is mounted; reboot to reset it",
					"%s is mounted at %s", p, strings.Join(obs.Mounted[sv.ID], ", "))
			}
		}
		if s.Blank == "" {
			continue
		}
		if _, clash := keep[s.Blank]; clash {
			refuse(s.Name, fixCfg, "its blank %s is a configured subvolume", s.Blank)
		}
		b, ok := obs.Subvolumes[s.Blank]
		switch {
		case !ok:
			refuse(s.Name, "create it with impermanence-provision (or fix blank = in the configuration)",
				"blank %s does not exist", s.Blank)
		case !b.ReadOnly:
			refuse(s.Name, fmt.Sprintf("check that it is pristine, then `btrfs property set <top>/%s ro true`", s.Blank),
				"blank %s is writable, so it may not be pristine", s.Blank)
		}
	}
	if opt.MinFree > 0 && obs.Free < opt.MinFree {
		refuse("", "free space (delete old archives or snapshots), or lower --min-free",
			"only %d MiB free, less than the %d MiB a safe rollback needs", obs.Free>>20, opt.MinFree>>20)
	}
	return errs
}

// isBelow reports whether p lies strictly below dir (both top-level relative).
func isBelow(p, dir string) bool { return strings.HasPrefix(p, dir+"/") }

// Build plans the rollback of every ephemeral subvolume, the repair of what
// an interrupted run left, and the pruning. It assumes Check passed.
func Build(cfg *config.Config, obs Observed, opt Options) Plan {
	b := builder{cfg: cfg, obs: obs, opt: opt, taken: map[string]bool{}}
	for dir, names := range obs.Entries {
		for _, n := range names {
			b.taken[path.Join(dir, n)] = true
		}
	}
	for _, s := range cfg.Ephemeral() {
		b.subvolume(s)
	}
	if len(b.p.Steps) > 0 {
		b.step(Step{Op: OpCommit, Action: "commit"})
	}
	n := len(b.p.Steps)
	for _, s := range cfg.Ephemeral() {
		if s.Archive {
			b.prune(s)
		}
	}
	if len(b.p.Steps) > n {
		b.step(Step{Op: OpCommit, Action: "commit"})
	}
	return b.p
}

type builder struct {
	cfg   *config.Config
	obs   Observed
	opt   Options
	p     Plan
	taken map[string]bool // archive paths that exist or are planned
	made  map[string]bool // archive paths created by this plan
}

func (b *builder) step(s Step) { b.p.Steps = append(b.p.Steps, s) }

// subvolume plans the reset of s, first finishing an interrupted one.
func (b *builder) subvolume(s config.Subvolume) {
	cur, hasCur := b.obs.Subvolumes[s.Name]
	next, hasNext := b.obs.Subvolumes[s.Name+names.NewSuffix]
	newName := s.Name + names.NewSuffix
	switch {
	case !hasCur && hasNext:
		b.p.Repairs = append(b.p.Repairs, fmt.Sprintf("%s is missing and %s exists: renaming it back (an interrupted run)", s.Name, newName))
		b.step(Step{Op: OpRename, Subvolume: s.Name, Path: newName, To: s.Name, Action: "repair"})
		hasCur, cur = true, next
	case hasCur && hasNext && next.ID > cur.ID:
		b.p.Repairs = append(b.p.Repairs, fmt.Sprintf("%s was made by an interrupted run and never swapped in: deleting it", newName))
		b.deleteTree(s.Name, newName, next.ID, "repair")
	case hasCur && hasNext:
		b.p.Repairs = append(b.p.Repairs, fmt.Sprintf("%s is the state an interrupted run swapped out: finishing its %s", newName, archiveVerb(s)))
		b.retire(s, newName, next.ID)
	}
	// The reset: a fresh S.new, swapped with S.
	if s.Blank != "" {
		from := s.Blank
		if f := b.opt.Blanks[s.Name]; f != "" {
			from = f
		}
		b.step(Step{Op: OpSnapshot, Subvolume: s.Name, From: from, Path: newName, Action: "reset"})
	} else {
		b.step(Step{Op: OpCreate, Subvolume: s.Name, Path: newName, Action: "reset"})
	}
	if !s.CoW {
		b.step(Step{Op: OpNoCoW, Subvolume: s.Name, Path: newName, Action: "reset"})
	} else if s.Compression != "" {
		b.step(Step{Op: OpCompression, Subvolume: s.Name, Path: newName, Value: s.Compression, Action: "reset"})
	}
	if !hasCur { // nothing to keep: S was missing altogether
		b.p.Warnings = append(b.p.Warnings, fmt.Sprintf("%s did not exist: creating it", s.Name))
		b.step(Step{Op: OpRename, Subvolume: s.Name, Path: newName, To: s.Name, Action: "reset"})
		return
	}
	b.step(Step{Op: OpExchange, Subvolume: s.Name, Path: newName, To: s.Name, Action: "reset"})
	b.retire(s, newName, cur.ID)
}

func archiveVerb(s config.Subvolume) string {
	if s.Archive {
		return "archiving"
	}
	return "deletion"
}

// retire archives or deletes the old state at p, whose subvolume id is id
// (its nested subvolumes are found by id under its current path).
func (b *builder) retire(s config.Subvolume, p string, id uint64) {
	if !s.Archive {
		b.deleteTree(s.Name, p, id, "discard")
		return
	}
	dir := path.Join(b.cfg.Archive.Dir, s.Name)
	if _, ok := b.obs.Entries[dir]; !ok && !b.taken[dir] {
		// Create each missing component; the archive dir itself usually exists.
		parts := strings.Split(dir, "/")
		for i := range parts {
			d := strings.Join(parts[:i+1], "/")
			if _, ok := b.obs.Entries[d]; ok || b.taken[d] || b.dirExists(d) {
				continue
			}
			b.step(Step{Op: OpMkdir, Subvolume: s.Name, Path: d, Action: "archive"})
			b.taken[d] = true
		}
		b.taken[dir] = true
	}
	name := names.Free(func(n int) string { return names.Archive(b.opt.Now, b.opt.BootID, n) },
		func(n string) bool { return b.taken[path.Join(dir, n)] })
	to := path.Join(dir, name)
	b.taken[to] = true
	if b.made == nil {
		b.made = map[string]bool{}
	}
	b.made[to] = true
	b.p.Archives = append(b.p.Archives, to)
	b.step(Step{Op: OpRename, Subvolume: s.Name, Path: p, To: to, ID: id, Action: "archive"})
	// An archive is read-only, as every snapshot is: its own step, so a
	// crash between the two leaves a writable archive, which the next run
	// makes read-only (prune).
	b.step(Step{Op: OpReadOnly, Subvolume: s.Name, Path: to, Value: "true", Action: "archive"})
}

// dirExists reports whether the observation shows d as an archive parent:
// Entries holds only <archive dir>/<subvolume>, so a parent of one exists.
func (b *builder) dirExists(d string) bool {
	for e := range b.obs.Entries {
		if isBelow(e, d) {
			return true
		}
	}
	return false
}

// deleteTree deletes subvolume id and everything nested in it, deepest first
// and by id within a depth, one step per subvolume.
func (b *builder) deleteTree(sv, p string, id uint64, action string) {
	root := b.byID(id)
	type node struct {
		btrfs.Subvolume
		depth int
	}
	nodes := []node{{Subvolume: root, depth: 0}}
	for _, s := range b.obs.Subvolumes {
		if root.Path != "" && isBelow(s.Path, root.Path) {
			nodes = append(nodes, node{s, strings.Count(strings.TrimPrefix(s.Path, root.Path+"/"), "/") + 1})
		}
	}
	slices.SortFunc(nodes, func(x, y node) int {
		return cmp.Or(cmp.Compare(y.depth, x.depth), cmp.Compare(x.ID, y.ID))
	})
	at := func(n node) string {
		if n.depth == 0 {
			return p
		}
		return p + strings.TrimPrefix(n.Path, root.Path)
	}
	// A nested subvolume's entry lives in its parent, which cannot change
	// while read-only (an archive is): such parents become writable first.
	// A crash after that leaves a writable archive, which the next run
	// makes read-only again or deletes.
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if n.ReadOnly && slices.ContainsFunc(nodes, func(c node) bool { return n.Path != "" && isBelow(c.Path, n.Path) }) {
			b.step(Step{Op: OpReadOnly, Subvolume: sv, Path: at(n), Value: "false", Action: action})
		}
	}
	for _, n := range nodes {
		b.step(Step{Op: OpDelete, Subvolume: sv, Path: at(n), ID: n.ID, Action: action})
	}
}

func (b *builder) byID(id uint64) btrfs.Subvolume {
	for _, s := range b.obs.Subvolumes {
		if s.ID == id {
			return s
		}
	}
	return btrfs.Subvolume{ID: id}
}

// prune plans the retention of s's archives.
func (b *builder) prune(s config.Subvolume) {
	dir := path.Join(b.cfg.Archive.Dir, s.Name)
	var archives []retention.Archive
	for p, sv := range b.obs.Subvolumes {
		name, ok := strings.CutPrefix(p, dir+"/")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		a := retention.Archive{Subvolume: s.Name, Name: name, Path: p, ID: sv.ID, OTime: sv.OTime}
		for q, n := range b.obs.Subvolumes {
			if (q == p || isBelow(q, p)) && len(b.obs.Mounted[n.ID]) > 0 {
				a.Mounted = append(a.Mounted, b.obs.Mounted[n.ID]...)
			}
		}
		archives = append(archives, a)
	}
	for p := range b.made {
		if name, ok := strings.CutPrefix(p, dir+"/"); ok {
			archives = append(archives, retention.Archive{Subvolume: s.Name, Name: name, Path: p, New: true})
		}
	}
	ds, warnings := retention.SelectArchives(archives, b.cfg.Archive.KeepDays, b.cfg.Archive.KeepMin, b.opt.Now)
	b.p.Warnings = append(b.p.Warnings, warnings...)
	b.p.Prune = append(b.p.Prune, ds...)
	for _, d := range ds {
		if d.Delete {
			b.deleteTree(s.Name, d.Path, d.ID, "prune")
			continue
		}
		// A kept archive (or a restore's replaced state) that is writable:
		// a run stopped between archiving and the flag, or an older
		// version. One not mounted becomes read-only.
		sv, ok := b.obs.Subvolumes[d.Path]
		name := path.Base(d.Path)
		_, _, _, isArchive := names.ParseArchive(name)
		_, _, isReplaced := names.ParseReplaced(name)
		if ok && !sv.ReadOnly && (isArchive || isReplaced) && len(b.obs.Mounted[sv.ID]) == 0 {
			b.p.Repairs = append(b.p.Repairs, fmt.Sprintf("%s is writable (a run stopped before the flag, or an older version): making it read-only", d.Path))
			b.step(Step{Op: OpReadOnly, Subvolume: s.Name, Path: d.Path, Value: "true", Action: "repair"})
		}
	}
}
