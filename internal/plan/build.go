package plan

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/unitfile"
	"github.com/server-impermanence/server-impermanence/internal/unitname"
)

// Env is what a boot looks like to the generator.
type Env struct {
	// Initrd is true when /etc/initrd-release exists.
	Initrd bool
	// Cmdline is the kernel command line.
	Cmdline Cmdline
	// SourcePath is the configuration file, for SourcePath=.
	SourcePath string
}

// Result is what Build decided.
type Result struct {
	// Files to write, sorted by directory and path.
	Files []File
	// Notes are decisions worth logging (for example the emergency switch).
	Notes []string
}

// ErrUnrepresentable marks a valid configuration value that cannot be
// written into a unit (a mountpoint whose unit name is too long, a
// subvolume name with a comma in subvol=, trailing whitespace).
var ErrUnrepresentable = errors.New("cannot be written as a systemd unit")

type builder struct {
	cfg   *config.Config
	env   Env
	files []File
	notes []string
	errs  []error
}

// Build returns the files a boot with cfg generates. cfg must be valid
// (config.Load succeeded). An error means the configuration cannot be
// expressed as units; the caller then treats it as invalid.
func Build(cfg *config.Config, env Env) (Result, error) {
	b := &builder{cfg: cfg, env: env}
	if env.Initrd {
		b.initrd()
	} else {
		b.host()
	}
	if len(b.errs) > 0 {
		return Result{}, errors.Join(b.errs...)
	}
	sortFiles(b.files)
	return Result{Files: b.files, Notes: b.notes}, nil
}

// Invalid returns the files for a configuration that failed to load: only
// the config-error unit, hooked so that it fails visibly. Nothing
// destructive is generated.
func Invalid(env Env) []File {
	target := "multi-user.target"
	if env.Initrd {
		target = "initrd.target"
	}
	return []File{staticLink(Normal, target+".wants", ConfigErrorService)}
}

func (b *builder) fail(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

func (b *builder) unit(dir Dir, name string, u *unitfile.Unit, comments ...string) {
	data, err := u.Render(comments...)
	if err != nil {
		b.fail("%s: %w: %w", name, ErrUnrepresentable, err)
		return
	}
	b.files = append(b.files, File{Dir: dir, Path: name, Content: data})
}

// link adds dir/<from>.<kind>/<to> pointing at a generated unit.
func (b *builder) link(dir Dir, from, kind, to string) {
	b.files = append(b.files, File{Dir: dir, Path: from + "." + kind + "/" + to, Link: "../" + to})
}

func staticLink(dir Dir, wantsDir, unit string) File {
	return File{Dir: dir, Path: wantsDir + "/" + unit, Link: StaticUnitDir + "/" + unit}
}

func (b *builder) static(dir Dir, from, kind, unit string) {
	b.files = append(b.files, staticLink(dir, from+"."+kind, unit))
}

// head starts a unit with Description=, Documentation= and SourcePath=.
func (b *builder) head(desc string) *unitfile.Unit {
	u := &unitfile.Unit{}
	u.Add("Unit", "Description", unitfile.Spec(desc))
	u.Add("Unit", "Documentation", DocURL)
	if b.env.SourcePath != "" {
		u.Add("Unit", "SourcePath", unitfile.Spec(b.env.SourcePath))
	}
	return u
}

// dropIn starts a drop-in for a static unit (SourcePath= only; the unit
// has its own description).
func (b *builder) dropIn() *unitfile.Unit {
	u := &unitfile.Unit{}
	if b.env.SourcePath != "" {
		u.Add("Unit", "SourcePath", unitfile.Spec(b.env.SourcePath))
	}
	return u
}

func (b *builder) mountName(where string) string {
	name, err := unitname.FromPath(where, ".mount")
	if err != nil {
		b.fail("mount unit for %s: %w: %w", where, ErrUnrepresentable, err)
		return ""
	}
	return name
}

func (b *builder) deviceUnit() string {
	name, err := unitname.FromPath(b.cfg.Device, ".device")
	if err != nil {
		b.fail("device unit for %s: %w: %w", b.cfg.Device, ErrUnrepresentable, err)
		return ""
	}
	return name
}

// subvolMount is one subvolume to mount.
type subvolMount struct {
	Name, Mountpoint string
}

// Mounts returns the subvolumes the host mounts, sorted by mountpoint: every
// [[subvolume]] except the root (the initrd mounts it from root= and
// rootflags=), plus the snapshots subvolume at /.snapshots when it is not
// declared.
func Mounts(cfg *config.Config) []subvolMount {
	var ms []subvolMount
	snapDeclared := false
	for _, s := range cfg.Subvolumes {
		snapDeclared = snapDeclared || s.Name == cfg.Snapshots.Dir
		if s.Mountpoint != "/" {
			ms = append(ms, subvolMount{s.Name, s.Mountpoint})
		}
	}
	if !snapDeclared {
		ms = append(ms, subvolMount{cfg.Snapshots.Dir, config.SnapshotsMountpoint})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Mountpoint < ms[j].Mountpoint })
	return ms
}

// subvolOptions checks the subvolume name can stand in subvol= and returns
// the mount options.
func (b *builder) subvolOptions(name, mountpoint string) string {
	if strings.ContainsAny(name, `,"`) {
		b.fail("subvolume %q: %w: a comma or quote cannot be written in subvol= (mount options are comma-separated)", name, ErrUnrepresentable)
	}
	return MountOptions(b.cfg.Mode, name, mountpoint)
}

// mountUnit writes a .mount for a subvolume at where (which may be below
// /sysroot in the initrd).
func (b *builder) mountUnit(sv subvolMount, where, requiredBy string) string {
	name := b.mountName(where)
	if name == "" {
		return ""
	}
	u := b.head(fmt.Sprintf("Btrfs subvolume %s at %s (server-impermanence)", sv.Name, where))
	u.Add("Unit", "Before", requiredBy)
	u.Add("Mount", "What", unitfile.Spec(b.cfg.Device))
	u.Add("Mount", "Where", unitfile.Spec(where))
	u.Add("Mount", "Type", "btrfs")
	u.Add("Mount", "Options", unitfile.Spec(b.subvolOptions(sv.Name, sv.Mountpoint)))
	b.unit(Late, name, u)
	b.link(Late, requiredBy, "requires", name)
	return name
}

// persistMountpoint returns where the persist subvolume is mounted, or "".
func persistMountpoint(cfg *config.Config) string {
	if s, ok := cfg.Subvolume(cfg.Persist.Subvolume); ok {
		return s.Mountpoint
	}
	return ""
}

// source returns the path of a persisted path on the persist subvolume.
func source(persist, p string) string { return path.Join(persist, p) }
