package provision

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// TempSuffix marks a subvolume that provision is still building
// (names.ProvisioningSuffix).
const TempSuffix = names.ProvisioningSuffix

// Kind is what was found at a path.
type Kind int

// What a path can be.
const (
	Missing Kind = iota
	Directory
	Subvolume
	Other // a file, symlink or device
)

func (k Kind) String() string {
	return [...]string{"missing", "a directory", "a subvolume", "not a directory"}[k]
}

// Entry is what was observed at a path relative to the top level.
type Entry struct {
	Kind        Kind
	ReadOnly    bool
	NoCoW       bool
	Compression string // the btrfs compression property, "" when unset
	Mode        fs.FileMode
	UID, GID    uint32
	Empty       bool // a subvolume or directory with no entries
	// Sub is the listing of a subvolume (zero for anything else).
	Sub btrfs.Subvolume
}

// subvolumes returns the observed subvolumes by path.
func (o Observed) subvolumes() map[string]btrfs.Subvolume {
	m := map[string]btrfs.Subvolume{}
	for p, e := range o {
		if e.Kind == Subvolume {
			m[p] = e.Sub
		}
	}
	return m
}

// Observed maps paths relative to the top level to what is there. A path
// that is absent from the map is missing.
type Observed map[string]Entry

// Options change what Plan does.
type Options struct {
	// BlankFrom is where the root's blank is captured from: a subvolume
	// path relative to the top level, or an absolute directory (an installed
	// root) that is copied. Empty: blanks start as empty subvolumes.
	BlankFrom string
	// ReplaceBlank replaces that blank with a new capture from BlankFrom
	// when it exists already (see OpReplace), keeping the one it replaces
	// in the history; it needs BlankFrom.
	ReplaceBlank bool
	// Now is the time of the commit: the name the replaced blank retires to.
	Now time.Time
	// Trial is the trial file (nil: none); Mounted the ids of mounted
	// subvolumes (never deleted from the history).
	Trial   *blanks.Trial
	Mounted map[uint64]bool
}

// Op names a step of a plan.
type Op string

// The steps.
const (
	// OpRemoveLeftover deletes a subvolume an interrupted run left under
	// its temporary name.
	OpRemoveLeftover Op = "remove-leftover"
	// OpCreate creates an empty subvolume, sets NoCoW and compression while
	// it is empty, optionally makes it read-only, then renames it into place.
	OpCreate Op = "create-subvolume"
	// OpSnapshot snapshots an existing subvolume into place.
	OpSnapshot Op = "snapshot"
	// OpCapture copies a directory tree into a new subvolume, makes it
	// read-only and renames it into place.
	OpCapture Op = "capture"
	// OpMkdir creates a plain directory.
	OpMkdir Op = "mkdir"
	// OpRetire renames the former blank an interrupted replacement left
	// under the temporary name into the history (RENAME_NOREPLACE).
	OpRetire Op = "retire-blank"
	// OpReplace replaces an existing blank (a commit) so that a valid
	// read-only blank exists at every instant, also across a crash: the
	// new blank is made read-only under the temporary name (a snapshot of
	// a subvolume, or a copy of a directory), its trial is written
	// ([blank] tries > 0), it is exchanged with the old one
	// (RENAME_EXCHANGE), the old one, now under the temporary name, is
	// renamed into the history (Retire) and the former blanks beyond
	// [blank] keep are deleted (Delete). A crash leaves either blank in
	// place and the other under the temporary name: the next run deletes
	// a new one never exchanged in (a stale trial names it and is
	// ignored) and retires an old one exchanged out (OpRetire).
	OpReplace Op = "replace-blank"
)

// Action is one step of a plan.
type Action struct {
	Op          Op          `json:"op"`
	Path        string      `json:"path"`
	From        string      `json:"from,omitempty"`
	ReadOnly    bool        `json:"read_only,omitempty"`
	NoCoW       bool        `json:"nocow,omitempty"`
	Compression string      `json:"compression,omitempty"`
	Mode        fs.FileMode `json:"mode,omitempty"`
	// To is where OpRetire renames Path to.
	To string `json:"to,omitempty"`
	// Commit is the history part of an OpReplace.
	Commit *blanks.Commit `json:"commit,omitempty"`
	// TrialPath is where the trial file of a commit goes (top-relative).
	TrialPath string `json:"trial_path,omitempty"`
	Why       string `json:"why"`
}

func (a Action) String() string {
	var b strings.Builder
	switch a.Op {
	case OpRemoveLeftover:
		fmt.Fprintf(&b, "remove leftover subvolume %s", a.Path)
	case OpCreate:
		fmt.Fprintf(&b, "create subvolume %s", a.Path)
	case OpSnapshot:
		fmt.Fprintf(&b, "snapshot %s to %s", a.From, a.Path)
	case OpCapture:
		fmt.Fprintf(&b, "capture %s into subvolume %s", a.From, a.Path)
	case OpMkdir:
		fmt.Fprintf(&b, "create directory %s (mode %04o)", a.Path, a.Mode.Perm())
	case OpRetire:
		fmt.Fprintf(&b, "retire former blank %s to %s", a.Path, a.To)
	case OpReplace:
		how := "snapshot"
		if strings.HasPrefix(a.From, "/") {
			how = "copy"
		}
		fmt.Fprintf(&b, "replace blank %s with a %s of %s (built as %s, exchanged atomically", a.Path, how, a.From, a.Path+TempSuffix)
		if a.Commit != nil {
			fmt.Fprintf(&b, "; the old blank becomes %s", a.Commit.Retire)
			if d := a.Commit.Delete(); len(d) > 0 {
				fmt.Fprintf(&b, "; delete former %s", strings.Join(d, ", "))
			}
			if a.Commit.Trial != nil {
				fmt.Fprintf(&b, "; on trial until a boot reaches boot-complete.target, fallback %s", a.Commit.Trial.Fallback)
			}
		}
		b.WriteString(")")
	}
	var props []string
	if a.NoCoW {
		props = append(props, "nocow")
	}
	if a.Compression != "" {
		props = append(props, "compression="+a.Compression)
	}
	if a.ReadOnly {
		props = append(props, "read-only")
	}
	if a.Op == OpCreate && a.Mode != 0 {
		props = append(props, fmt.Sprintf("mode %04o", a.Mode.Perm()))
	}
	if len(props) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(props, ", "))
	}
	if a.Why != "" {
		fmt.Fprintf(&b, ": %s", a.Why)
	}
	return b.String()
}

// Mismatch is something that exists but differs from the configuration.
// Provision never changes it; the operator decides. A difference that the
// next boot corrects (a compression property, see reappliedBy) is reported
// as a warning in the same form instead.
type Mismatch struct {
	Path string `json:"path"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Fix  string `json:"fix,omitempty"`
}

func (m Mismatch) String() string {
	s := fmt.Sprintf("%s: want %s, found %s", m.Path, m.Want, m.Got)
	if m.Fix != "" {
		s += " (" + m.Fix + ")"
	}
	return s
}

// Result is a plan: the actions in order, what differs, and warnings.
type Result struct {
	Actions    []Action   `json:"actions"`
	Mismatches []Mismatch `json:"mismatches"`
	Warnings   []string   `json:"warnings"`
}

// want describes one subvolume the configuration needs.
type want struct {
	path        string
	readOnly    bool
	nocow       bool
	compression string // property to set; "" for none
	mode        fs.FileMode
	why         string
	// ephemeral: the rollback recreates it at every boot.
	ephemeral bool
	// blank: properties are advisory (a captured or snapshotted blank has
	// its source's); only read-only is required.
	blank bool
}

// Paths returns every path Plan looks at, so the caller observes only those.
func Paths(cfg *config.Config) []string {
	set := map[string]bool{cfg.Snapshots.Dir: true, cfg.Archive.Dir: true}
	for _, s := range cfg.Subvolumes {
		set[s.Name] = true
		if s.Class == config.Ephemeral {
			if s.Blank != "" {
				set[s.Blank] = true
			}
			if s.Archive {
				set[path.Join(cfg.Archive.Dir, s.Name)] = true
			}
		}
	}
	for p := range set {
		set[p+TempSuffix] = true
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// property returns the compression property a subvolume gets: none for
// NoCoW (the kernel refuses any compression property on NoCoW inodes, and
// NoCoW data is never compressed).
func property(s config.Subvolume) string {
	if !s.CoW {
		return ""
	}
	return s.Compression
}

// Plan decides what to create and what to report. It is pure.
func Plan(cfg *config.Config, obs Observed, opt Options) Result {
	var r Result
	owner, _ := blanks.Owner(cfg)
	// Leftovers of an interrupted run go first, so their names are free.
	// The root blank's leftover may be the former blank an interrupted
	// replacement exchanged out: that one goes into the history.
	for _, p := range Paths(cfg) {
		if !strings.HasSuffix(p, TempSuffix) || obs[p].Kind != Subvolume {
			continue
		}
		if cur := obs[owner.Blank]; owner.Blank != "" && p == owner.Blank+TempSuffix && cur.Kind == Subvolume {
			if blanks.Swapped(cur.Sub, obs[p].Sub) {
				to, _ := blanks.FreeName(owner.Blank, cur.Sub.OTime, func(n string) bool { _, ok := obs[n]; return ok })
				r.Actions = append(r.Actions, Action{Op: OpRetire, Path: p, To: to,
					Why: "the former blank an interrupted replacement exchanged out"})
				continue
			}
		}
		r.Actions = append(r.Actions, Action{Op: OpRemoveLeftover, Path: p, Why: "left by an interrupted run"})
	}
	root := owner.Name
	if opt.BlankFrom != "" && root == "" {
		r.Warnings = append(r.Warnings, "--blank-from given but no ephemeral subvolume has a blank; ignored")
	}
	if opt.ReplaceBlank && opt.BlankFrom == "" {
		r.Warnings = append(r.Warnings, "--replace-blank needs --blank-from; ignored")
	}
	// Blanks, then the subvolumes (an ephemeral one starts as a snapshot of
	// its blank), then the snapshots subvolume and the archive directories.
	for _, s := range cfg.Ephemeral() {
		if s.Blank == "" {
			continue
		}
		w := want{path: s.Blank, readOnly: true, nocow: !s.CoW, compression: property(s), blank: true,
			why: fmt.Sprintf("read-only blank of ephemeral %s", s.Name)}
		e, ok := obs[s.Blank]
		switch {
		case ok && e.Kind == Subvolume && s.Name == root && opt.BlankFrom != "" && opt.ReplaceBlank:
			a := r.capture(w, opt.BlankFrom, obs)
			a.Op = OpReplace
			c, err := blanks.PlanCommit(cfg, s, r.afterRetire(obs), opt.Mounted, opt.Trial, opt.Now)
			if err != nil { // unreachable: the blank exists
				r.Mismatches = append(r.Mismatches, Mismatch{Path: s.Blank, Want: "an existing blank", Got: err.Error()})
				break
			}
			a.Commit, a.TrialPath = &c, blanks.TrialPath(cfg)
			r.Actions = append(r.Actions, a)
			if !e.ReadOnly {
				r.Warnings = append(r.Warnings, fmt.Sprintf("blank %s is writable; it is replaced all the same", s.Blank))
			}
			if opt.BlankFrom == s.Name && s.Mountpoint == "/" {
				r.Warnings = append(r.Warnings, fmt.Sprintf(
					"%s is the live root: the new blank is everything in it now; it carries /boot, so rebuild the initrd (dracut -f) before replacing the blank", s.Name))
			}
		case ok && e.Kind != Missing:
			r.check(w, e)
		case s.Name == root && opt.BlankFrom != "":
			r.Actions = append(r.Actions, r.capture(w, opt.BlankFrom, obs))
		default:
			r.Actions = append(r.Actions, create(w))
			if s.Mountpoint == "/" {
				r.Warnings = append(r.Warnings, fmt.Sprintf(
					"blank %s of the root is created empty: a rollback to it would not boot; capture an installed root with --blank-from before enabling the rollback", s.Blank))
			}
		}
	}
	for _, s := range cfg.Subvolumes {
		w := want{path: s.Name, nocow: !s.CoW, compression: property(s), ephemeral: s.Class == config.Ephemeral,
			why: string(s.Class) + " subvolume mounted at " + s.Mountpoint}
		if s.Name == cfg.Snapshots.Dir {
			w.mode = 0o700
		}
		if e, ok := obs[s.Name]; ok && e.Kind != Missing {
			r.check(w, e)
			continue
		}
		if s.Class == config.Ephemeral && s.Blank != "" {
			if r.mismatched(s.Blank) {
				r.Warnings = append(r.Warnings, fmt.Sprintf("%s not created: its blank %s does not match the configuration", s.Name, s.Blank))
				continue
			}
			r.Actions = append(r.Actions, Action{Op: OpSnapshot, Path: s.Name, From: s.Blank,
				Why: "ephemeral subvolume starts from its blank"})
			continue
		}
		r.Actions = append(r.Actions, create(w))
	}
	if _, listed := cfg.Subvolume(cfg.Snapshots.Dir); !listed {
		w := want{path: cfg.Snapshots.Dir, mode: 0o700, why: "snapshots subvolume, mounted at " + config.SnapshotsMountpoint}
		if e, ok := obs[w.path]; ok && e.Kind != Missing {
			r.check(w, e)
		} else {
			r.Actions = append(r.Actions, create(w))
		}
	}
	dirs := []string{cfg.Archive.Dir}
	for _, s := range cfg.Ephemeral() {
		if s.Archive {
			dirs = append(dirs, path.Join(cfg.Archive.Dir, s.Name))
		}
	}
	for i, d := range dirs {
		e, ok := obs[d]
		if i > 0 && r.mismatched(dirs[0]) {
			break // never create anything inside a wrong archive dir
		}
		switch {
		case !ok || e.Kind == Missing:
			r.Actions = append(r.Actions, Action{Op: OpMkdir, Path: d, Mode: 0o700, Why: "archive of previous states"})
		case e.Kind != Directory:
			fix := ""
			if e.Kind == Subvolume {
				fix = "archives moved into a subvolume would be nested in it; move its content out and delete it"
			}
			r.Mismatches = append(r.Mismatches, Mismatch{Path: d, Want: "a plain directory", Got: e.Kind.String(), Fix: fix})
		case e.Mode.Perm() != 0o700 || e.UID != 0 || e.GID != 0:
			r.Mismatches = append(r.Mismatches, Mismatch{Path: d, Want: "root:root 0700",
				Got: fmt.Sprintf("%d:%d %04o", e.UID, e.GID, e.Mode.Perm()), Fix: "chown root:root and chmod 0700 it"})
		}
	}
	return r
}

// afterRetire returns the observed subvolumes as they are once the
// OpRetire actions planned so far are done.
func (r *Result) afterRetire(obs Observed) map[string]btrfs.Subvolume {
	subs := obs.subvolumes()
	for _, a := range r.Actions {
		if a.Op == OpRetire {
			sv := subs[a.Path]
			delete(subs, a.Path)
			sv.Path = a.To
			subs[a.To] = sv
		}
	}
	return subs
}

func create(w want) Action {
	return Action{Op: OpCreate, Path: w.path, ReadOnly: w.readOnly, NoCoW: w.nocow,
		Compression: w.compression, Mode: w.mode, Why: w.why}
}

func (r *Result) capture(w want, from string, obs Observed) Action {
	a := Action{Path: w.path, From: from, ReadOnly: true, NoCoW: w.nocow, Compression: w.compression, Why: w.why}
	if strings.HasPrefix(from, "/") {
		a.Op = OpCapture
		return a
	}
	// A subvolume of this filesystem: a read-only snapshot of it. Its
	// properties are its own; say so when they differ from the config.
	a.Op, a.NoCoW, a.Compression = OpSnapshot, false, ""
	if e := obs[from]; e.Kind == Subvolume && (e.NoCoW != w.nocow || e.Compression != w.compression) {
		r.Warnings = append(r.Warnings, fmt.Sprintf("blank %s inherits the properties of %s (nocow=%t, compression=%q), not the configured ones",
			w.path, from, e.NoCoW, e.Compression))
	}
	return a
}

func (r *Result) mismatched(path string) bool {
	for _, m := range r.Mismatches {
		if m.Path == path {
			return true
		}
	}
	return false
}

// check reports how an existing entry differs from what is wanted.
func (r *Result) check(w want, e Entry) {
	add := func(want, got, fix string) {
		r.Mismatches = append(r.Mismatches, Mismatch{Path: w.path, Want: want, Got: got, Fix: fix})
	}
	if e.Kind != Subvolume {
		add("a subvolume", e.Kind.String(), "move it aside and run provision again")
		return
	}
	switch {
	case w.readOnly && !e.ReadOnly:
		add("read-only", "writable", fmt.Sprintf("check its content, then: btrfs property set -ts %s ro true", w.path))
	case !w.readOnly && e.ReadOnly:
		add("writable", "read-only", fmt.Sprintf("btrfs property set -ts %s ro false", w.path))
	}
	if w.blank {
		if w.nocow != e.NoCoW || w.compression != e.Compression {
			r.Warnings = append(r.Warnings, fmt.Sprintf("blank %s has nocow=%t compression=%q; the configuration says nocow=%t compression=%q (the rollback applies the configured ones where it can)",
				w.path, e.NoCoW, e.Compression, w.nocow, w.compression))
		}
		return
	}
	if w.nocow != e.NoCoW {
		add(fmt.Sprintf("nocow=%t", w.nocow), fmt.Sprintf("nocow=%t", e.NoCoW),
			"NoCoW can only be set on an empty subvolume: recreate it and copy the data")
	}
	if w.compression != e.Compression {
		m := Mismatch{Path: w.path, Want: fmt.Sprintf("compression property %q", w.compression), Got: fmt.Sprintf("%q", e.Compression)}
		if by := reappliedBy(w, e); by != "" {
			m.Fix = by + "; affects new writes only"
			r.Warnings = append(r.Warnings, m.String())
		} else {
			add(m.Want, m.Got, "btrfs property set "+w.path+" compression "+orNone(w.compression)+" (affects new writes only)")
		}
	}
	if w.mode != 0 && (e.Mode.Perm() != w.mode || e.UID != 0 || e.GID != 0) {
		add(fmt.Sprintf("root:root %04o", w.mode), fmt.Sprintf("%d:%d %04o", e.UID, e.GID, e.Mode.Perm()),
			fmt.Sprintf("chown root:root and chmod %04o it", w.mode))
	}
}

// reappliedBy says who gives an existing subvolume the compression property
// w asks for at boot, or "" when nobody does and the difference is the
// operator's. The rollback recreates an ephemeral subvolume at every boot
// from its blank (whose own properties are checked apart) and sets the
// configured property on it. server-impermanence-tune.service sets a
// configured property on every other subvolume at its mountpoint, but never
// removes one (compression = "" is left alone) and cannot set one on a NoCoW
// directory (the kernel refuses it).
func reappliedBy(w want, e Entry) string {
	switch {
	case w.ephemeral:
		return "applied at the next boot by the rollback"
	case w.compression != "" && !e.NoCoW:
		return "applied by server-impermanence-tune.service at boot"
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
