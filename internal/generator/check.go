package generator

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
	"github.com/server-impermanence/server-impermanence/internal/sysctl"
	"github.com/server-impermanence/server-impermanence/internal/unitname"
)

// runCheck validates the configuration and prints the effective layout.
func runCheck(path string, env Env) int {
	cfg, err := config.Load(path)
	if errors.Is(err, config.ErrNoConfig) {
		fmt.Fprintf(env.Stderr, "%s: no configuration at %s: the generator emits nothing\n", Program, path)
		return 1
	}
	if err == nil {
		_, err = plan.Build(cfg, plan.Env{SourcePath: config.DefaultPath})
		if err == nil {
			_, err = plan.Build(cfg, plan.Env{Initrd: true, SourcePath: config.DefaultPath})
		}
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: configuration %s is invalid:\n%v\n", Program, path, err)
		return 1
	}
	b, _ := os.ReadFile(env.path("/proc/cmdline"))
	cmdline := plan.ParseCmdline(string(b))
	printLayout(env.Stdout, cfg, cmdline, judgeRoot(observeRoot(env, cfg.Device, cmdline)), readSysctl(env, cfg))
	return 0
}

// sysctlView is the effective set of kernel parameters a boot applies, as
// read from this machine: the mode's installed drop-in, then the
// configuration's keys; warnings for what cannot be applied here.
type sysctlView struct {
	settings []sysctl.Setting
	warnings []string
}

func readSysctl(env Env, cfg *config.Config) sysctlView {
	var v sysctlView
	file := plan.SysctlFile(cfg.Mode)
	var err error
	v.settings, err = sysctl.ReadEffective(env.path(file), file, cfg.SysctlOverrides())
	if err != nil {
		v.warnings = append(v.warnings, fmt.Sprintf("mode %s: %v: its kernel parameters are not applied (is the package installed?)", cfg.Mode, err))
	}
	procSys := env.path("/proc/sys")
	if _, err := os.Stat(filepath.Join(procSys, "kernel")); err != nil {
		v.warnings = append(v.warnings, fmt.Sprintf("kernel parameters not checked against the running kernel: %v", err))
		return v
	}
	for _, s := range v.settings {
		if !sysctl.Exists(procSys, s.Key) {
			v.warnings = append(v.warnings, fmt.Sprintf("sysctl %s (%s): the running kernel has no such parameter (/proc/sys/%s): it is skipped at boot", s.Key, s.Source, sysctl.ProcPath(s.Key)))
		}
	}
	return v
}

func printLayout(w io.Writer, cfg *config.Config, cmdline plan.Cmdline, root rootVerdict, sys sysctlView) {
	fsOpts := strings.Join(plan.FSOptions(cfg.Mode), ",")
	fmt.Fprintf(w, "configuration: %s: valid\n", strings.Join(cfg.Files, ", "))
	dev, _ := unitname.FromPath(cfg.Device, ".device")
	fmt.Fprintf(w, "device:        %s (%s)\n", cfg.Device, dev)
	fmt.Fprintf(w, "root:          %s\n", root.Line)
	fmt.Fprintf(w, "mode:          %s (sysctl %s)\n", cfg.Mode, plan.SysctlFile(cfg.Mode))
	fmt.Fprintf(w, "fs-wide mount options (every mount carries them; the first mount wins): %s\n\n", fsOpts)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBVOLUME\tMOUNTPOINT\tCLASS\tUNIT\tPER-MOUNT FLAGS\tCOMPRESSION\tNOCOW\tSNAPSHOT")
	var warnings []string
	if root.Warning != "" {
		warnings = append(warnings, root.Warning)
	}
	for _, s := range cfg.Subvolumes {
		unit := "(initrd: root= rootflags=)"
		if s.Mountpoint != "/" {
			unit, _ = unitname.FromPath(s.Mountpoint, ".mount")
		}
		class := string(s.Class)
		if s.Class == config.Ephemeral {
			blank := s.Blank
			if blank == "" {
				blank = "empty"
			}
			arch := "deleted"
			if s.Archive {
				arch = "archived"
			}
			class += " (from " + blank + ", old state " + arch + ")"
		}
		comp := "property " + s.Compression
		switch {
		case !s.CoW:
			comp = "none (NoCoW)"
		case s.Compression == "":
			comp = "inherits mount option"
		}
		nocow := "no"
		if !s.CoW {
			nocow = "chattr +C"
			warnings = append(warnings, fmt.Sprintf("%s: NoCoW: its data is never compressed and has no checksums (scrub cannot verify it); a \"zstd:N, No CoW\" subvolume is realised as NoCoW without compression", s.Name))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", s.Name, s.Mountpoint, class, unit,
			strings.Join(plan.MountFlags(s.Mountpoint), ","), comp, nocow, s.Snapshot)
	}
	if _, ok := cfg.Subvolume(cfg.Snapshots.Dir); !ok {
		unit, _ := unitname.FromPath(config.SnapshotsMountpoint, ".mount")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v\n", cfg.Snapshots.Dir, config.SnapshotsMountpoint, "snapshots", unit,
			strings.Join(plan.MountFlags(config.SnapshotsMountpoint), ","), "inherits mount option", "no", false)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nHow per-subvolume compression and NoCoW are realised (btrfs mount options are per filesystem):\n")
	fmt.Fprintf(w, "  - compression level: one for the filesystem, from mode %s (%s); a per-subvolume level cannot exist\n", cfg.Mode, compressOpt(cfg.Mode))
	fmt.Fprintf(w, "  - compression algorithm: the btrfs property \"compression\" per subvolume (the level in a property is ignored)\n")
	fmt.Fprintf(w, "  - NoCoW: chattr +C on the empty subvolume root (set at creation; re-applied by %s)\n", plan.TuneService)
	fmt.Fprintf(w, "  - per mount: only ro/rw, atime, nodev/nosuid/noexec and subvol=\n")
	fmt.Fprintf(w, "  - %s applies the mode: sysctl file, one remount with the fs-wide options, properties\n", plan.TuneService)

	fmt.Fprintf(w, "\nPersisted paths (bind mounts from %s, before local-fs.target):\n", persistMP(cfg))
	for _, p := range append(append([]config.PersistPath(nil), cfg.Persist.Directories...), cfg.Persist.Files...) {
		unit, _ := unitname.FromPath(p.Path, ".mount")
		fmt.Fprintf(w, "  %s  %s\n", p.Path, unit)
	}
	fmt.Fprintf(w, "\nSnapshot policies (%s elapses at every distinct schedule; each run snapshots the subvolumes whose schedule elapsed since their newest timeline snapshot):\n", plan.SnapshotsTimer)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SUBVOLUME\tSCHEDULE\tRETENTION\tFROM")
	named := map[string]bool{}
	for _, s := range cfg.Subvolumes {
		named[s.Policy] = true
		if !s.Snapshot {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.Name, s.Schedule, s.Retention, s.PolicySource())
	}
	tw.Flush()
	for _, p := range cfg.Policies {
		if !named[p.Name] {
			warnings = append(warnings, fmt.Sprintf("[policy.%s] is named by no subvolume (policy = %q)", p.Name, p.Name))
		}
	}
	var onCalendar []string
	for _, sched := range cfg.Schedules() {
		onCalendar = append(onCalendar, "OnCalendar="+sched)
	}
	fmt.Fprintf(w, "\nTimers: %s %s; %s OnCalendar=%s; %s OnCalendar=%s\n",
		plan.SnapshotsTimer, strings.Join(onCalendar, " "), plan.CleanupTimer, cfg.Cleanup.Schedule, plan.MaintenanceTimer, cfg.Maintenance.Schedule)

	fmt.Fprintf(w, "\nKernel parameters (%s applies them after systemd-sysctl.service: they win over /etc/sysctl.d/; [sysctl] after the mode's):\n", plan.TuneService)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KEY\tVALUE\tFROM")
	for _, x := range sys.settings {
		from := x.Source
		if x.Replaces != "" {
			from += " (replaces " + x.Replaces + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", x.Key, x.Value, from)
	}
	tw.Flush()
	warnings = append(warnings, sys.warnings...)

	fmt.Fprintf(w, "\nKernel command line:\n")
	for _, s := range cfg.Subvolumes {
		if s.Mountpoint != "/" {
			continue
		}
		want := plan.RootFlags(cfg.Mode, s.Name)
		got, found := cmdline.Value("rootflags", false)
		switch {
		case !found:
			fmt.Fprintf(w, "  rootflags= is not set: set rootflags=%s (the root is the first mount: its options are the filesystem's)\n", want)
		case rootflagsMatch(got, s.Name, cfg.Mode):
			fmt.Fprintf(w, "  rootflags=%s: matches the configuration\n", got)
		default:
			fmt.Fprintf(w, "  rootflags=%s differs from the configuration: set rootflags=%s\n", got, want)
		}
	}
	if cmdline.RollbackDisabled(true) {
		fmt.Fprintf(w, "  %s=0 is set: the next initrd skips the rollback\n", plan.DisableRollback)
	}
	if len(warnings) > 0 {
		fmt.Fprintf(w, "\nWarnings:\n")
		for _, x := range warnings {
			fmt.Fprintf(w, "  - %s\n", x)
		}
	}
}

func compressOpt(m config.Mode) string {
	for _, o := range plan.FSOptions(m) {
		if strings.HasPrefix(o, "compress") {
			return o
		}
	}
	return "no compression"
}

func persistMP(cfg *config.Config) string {
	if s, ok := cfg.Subvolume(cfg.Persist.Subvolume); ok {
		return s.Mountpoint
	}
	return "(none)"
}

// rootflagsMatch reports whether rootflags= mounts the root subvolume with
// every fs-wide option of the mode.
func rootflagsMatch(flags, root string, m config.Mode) bool {
	have := map[string]bool{}
	for _, o := range strings.Split(flags, ",") {
		have[o] = true
	}
	if !have["subvol="+root] && !have["subvol=/"+root] {
		return false
	}
	for _, o := range plan.FSOptions(m) {
		if !have[o] {
			return false
		}
	}
	return true
}
