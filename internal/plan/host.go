package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/unitfile"
)

// Paths the static units and the tune drop-in use.
const (
	SysctlDir     = "/usr/lib/server-impermanence/sysctl"
	systemdSysctl = "/usr/lib/systemd/systemd-sysctl"
	mountBin      = "/usr/bin/mount"
	tuneBin       = "/usr/sbin/impermanence-tune"
)

// SysctlFile is the installed sysctl drop-in of a mode, which the tune
// service's ExecStart= applies.
func SysctlFile(m config.Mode) string { return SysctlDir + "/" + string(m) + ".conf" }

func (b *builder) host() {
	for _, m := range Mounts(b.cfg) {
		b.mountUnit(m, m.Mountpoint, "local-fs.target")
	}
	b.persist()
	// One timer for every schedule: it elapses at each distinct one and
	// impermanence-snapshot --due takes what is due (snapshot.Due).
	b.timer(SnapshotsTimer, b.cfg.Schedules()...)
	b.snapshotHooks()
	b.timer(CleanupTimer, b.cfg.Cleanup.Schedule)
	b.timer(MaintenanceTimer, b.cfg.Maintenance.Schedule)
	if b.cfg.Maintenance.Scrub {
		// The scrub runs in a unit of its own, whose start timeout fits
		// its time budget; btrfs-maintenance.service only balances.
		b.timer(ScrubTimer, b.cfg.Maintenance.Schedule)
	}
	for _, t := range b.cfg.Targets {
		b.sendTimer(t)
	}
	b.tune()
	b.notify()
	if hasBlank(b.cfg) && b.cfg.Blank.Tries > 0 {
		// Trial boots of a newly committed blank: a boot that reaches the
		// default target marks it good (ordered before boot-complete.target).
		b.static(Normal, "multi-user.target", "wants", BlankGoodService)
		b.static(Normal, "boot-complete.target", "requires", BlankGoodService)
	}
	if b.cfg.Exporter.Listen != "" {
		b.static(Normal, "multi-user.target", "wants", ExporterService)
	}
}

// hasBlank reports whether an ephemeral subvolume has a blank: the only
// kind a commit makes a trial of.
func hasBlank(cfg *config.Config) bool {
	for _, s := range cfg.Ephemeral() {
		if s.Blank != "" {
			return true
		}
	}
	return false
}

// timer sets OnCalendar= from the configuration (one line per schedule)
// and enables the timer.
func (b *builder) timer(name string, schedules ...string) {
	u := b.dropIn()
	u.Add("Timer", "OnCalendar", "")
	for _, s := range schedules {
		u.Add("Timer", "OnCalendar", unitfile.Spec(s))
	}
	b.unit(Normal, name+".d/"+DropInName, u)
	b.static(Normal, "timers.target", "wants", name)
}

// SnapshotsStartTimeout is server-snapshots.service's own TimeoutStartSec=
// (units/), for the snapshots alone.
const SnapshotsStartTimeout = 30 * time.Second

// hookSlack is what each hook may take beyond its timeout: systemd's stop
// (TimeoutStopSec=5s) and systemd-run's return.
const hookSlack = 15 * time.Second

// snapshotHooks raises server-snapshots.service's start timeout by what
// the snapshot hooks may take (each hook_timeout and its slack), so a
// slow hook is stopped by its own timeout, never the job by systemd's.
func (b *builder) snapshotHooks() {
	total := SnapshotsStartTimeout
	for _, s := range b.cfg.Subvolumes {
		if !s.Snapshot {
			continue
		}
		for _, argv := range [][]string{s.PreSnapshot, s.PostSnapshot} {
			if len(argv) > 0 {
				total += s.HookTimeout + hookSlack
			}
		}
	}
	if total == SnapshotsStartTimeout {
		return
	}
	u := b.dropIn()
	u.Add("Service", "TimeoutStartSec", strconv.FormatInt(int64(total/time.Second), 10)+"s")
	b.unit(Normal, SnapshotsService+".d/"+DropInName, u)
}

// sendTimer schedules and enables the replication timer instance of a
// target (the template's instance; the service is ordered after the
// snapshots statically).
func (b *builder) sendTimer(t config.Target) {
	timer := SendInstance(SendTimer, t.Name)
	u := b.dropIn()
	u.Add("Timer", "OnCalendar", "")
	u.Add("Timer", "OnCalendar", unitfile.Spec(t.Schedule))
	b.unit(Normal, timer+".d/"+DropInName, u)
	b.files = append(b.files, File{Dir: Normal, Path: "timers.target.wants/" + timer, Link: StaticUnitDir + "/" + SendTimer})
	if _, ok := t.SSH(); ok {
		b.sendNetwork(t)
	}
}

// sendNetwork gives the send service of an SSH target the network the
// static unit denies every target (a local one needs none): ssh(1)
// connects to the backup host (AF_NETLINK: the resolver's interface
// query). It takes away what only btrfs receive on a local target needs:
// the backup host receives.
func (b *builder) sendNetwork(t config.Target) {
	u := b.dropIn()
	u.Add("Service", "CapabilityBoundingSet", "~CAP_CHOWN CAP_FSETID CAP_MKNOD CAP_SETFCAP CAP_LINUX_IMMUTABLE CAP_SYS_CHROOT")
	u.Add("Service", "PrivateNetwork", "no")
	u.Add("Service", "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK")
	u.Add("Service", "IPAddressDeny", "")
	b.unit(Normal, SendInstance(SendService, t.Name)+".d/"+DropInName, u)
}

// tune applies the mode: its sysctl file (the static unit's ExecStart=, the
// mode chosen here), the filesystem-wide mount options with one remount, and
// impermanence-tune, which writes [sysctl]'s kernel parameters after the
// mode's and sets the compression property and NoCoW of each subvolume
// that has one, in a single process (only when there is such work). Every
// step is idempotent.
func (b *builder) tune() {
	u := b.dropIn()
	u.Add("Service", "Environment", "SERVER_IMPERMANENCE_MODE="+string(b.cfg.Mode))
	if target := remountTarget(b.cfg); target != "" {
		opts := append(FSOptions(b.cfg.Mode), MountFlags(target)...)
		u.Add("Service", "ExecStart", strings.Join([]string{mountBin, "-o", "remount," + strings.Join(opts, ","), unitfile.Exec(target)}, " "))
	}
	if needsTune(b.cfg) {
		u.Add("Service", "ExecStart", tuneBin+" --config "+unitfile.Exec(config.DefaultPath))
	}
	b.unit(Normal, TuneService+".d/"+DropInName, u)
	b.static(Normal, "sysinit.target", "wants", TuneService)
}

// notify makes the failure handler of every job pull in the notification
// of the failed unit (NotifyService, instance %i: the failed unit's name)
// when [notify].command is set. A unit of its own: the command may need
// the network, the mail spool and the journal, which the failure handler's
// sandbox denies; neither unit has OnFailure=, so nothing loops.
func (b *builder) notify() {
	if len(b.cfg.Notify.Command) == 0 {
		return
	}
	u := b.dropIn()
	u.Add("Unit", "Wants", strings.TrimSuffix(NotifyService, "@.service")+"@%i.service")
	b.unit(Normal, FailureService+".d/"+DropInName, u)
}

// needsTune reports whether impermanence-tune has work beyond the mode's
// sysctl file, which the static unit applies: kernel parameters of
// [sysctl] (it writes them after the mode's), or a subvolume with a
// compression property or NoCoW.
func needsTune(cfg *config.Config) bool {
	if len(cfg.Sysctl) > 0 {
		return true
	}
	for _, s := range cfg.Subvolumes {
		if !s.CoW || s.Compression != "" {
			return true
		}
	}
	return false
}

// remountTarget is the mountpoint remounted to apply the filesystem-wide
// options: the root when it is on the filesystem, else the first mount.
func remountTarget(cfg *config.Config) string {
	for _, s := range cfg.Subvolumes {
		if s.Mountpoint == "/" {
			return "/"
		}
	}
	if ms := Mounts(cfg); len(ms) > 0 {
		return ms[0].Mountpoint
	}
	return ""
}

// persist writes a bind mount per persisted directory and file and the
// persist service's drop-in, which creates the missing sources on the
// persist subvolume with systemd-tmpfiles before the binds.
func (b *builder) persist() {
	ps := b.cfg.Persist
	if len(ps.Directories)+len(ps.Files) == 0 {
		return
	}
	pm := persistMountpoint(b.cfg)
	var lines []string
	for _, d := range ps.Directories {
		b.bind(pm, d.Path, "directory", false)
		lines = append(lines, tmpfilesLine(pm, d, 'd'))
	}
	for _, f := range ps.Files {
		b.bind(pm, f.Path, "file", true)
		lines = append(lines, tmpfilesLine(pm, f, 'f'))
		if f.Path == "/etc/machine-id" {
			// The persisted machine-id is a bind mount: the commit service
			// would take it for the transient first-boot overmount and fail
			// at every boot. The persisted file is the committed id.
			b.files = append(b.files, File{Dir: Normal, Path: MachineIDCommitService, Link: "/dev/null"})
		}
	}
	u := b.dropIn()
	u.Add("Unit", "RequiresMountsFor", unitfile.Word(pm))
	for _, l := range lines {
		u.Add("Service", "StandardInputText", unitfile.Text(l))
	}
	b.unit(Normal, PersistService+".d/"+DropInName, u)
	b.static(Normal, "local-fs.target", "wants", PersistService)
}

// bind writes the bind mount of a persisted path. Binds are wanted, not
// required, by local-fs.target: a missing persisted path must not drop a
// server into emergency mode (it shows in systemctl --failed instead). A
// persisted file is bound only when it exists on the persist subvolume.
func (b *builder) bind(persist, p, what string, isFile bool) {
	name := b.mountName(p)
	if name == "" {
		return
	}
	src := source(persist, p)
	u := b.head(fmt.Sprintf("Persisted %s %s (server-impermanence)", what, p))
	u.Add("Unit", "RequiresMountsFor", unitfile.Word(persist))
	u.Add("Unit", "Wants", PersistService)
	u.Add("Unit", "After", PersistService)
	u.Add("Unit", "Before", "local-fs.target")
	if isFile {
		u.Add("Unit", "ConditionPathExists", unitfile.Spec(src))
	}
	u.Add("Mount", "What", unitfile.Spec(src))
	u.Add("Mount", "Where", unitfile.Spec(p))
	u.Add("Mount", "Type", "none")
	u.Add("Mount", "Options", "bind")
	b.unit(Late, name, u)
	b.link(Late, "local-fs.target", "wants", name)
}

// tmpfilesLine is the tmpfiles.d(5) line that prepares a persisted path on
// the persist subvolume. Without owner or mode it copies the live path the
// first time (C: only when the source is missing on /persist); with them it
// creates the path with that owner and mode (d, f), which tmpfiles also
// re-applies at every boot.
func tmpfilesLine(persist string, p config.PersistPath, create byte) string {
	src := tmpfilesWord(source(persist, p.Path))
	if p.User == "" && p.Group == "" && p.Mode == "" {
		return "C " + src + " - - - - " + tmpfilesWord(p.Path)
	}
	return fmt.Sprintf("%c %s %s %s %s -", create, src, dash(p.Mode), dash(p.User), dash(p.Group))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tmpfilesWord escapes a path for tmpfiles.d: specifiers, and quoting with
// C escapes when it holds whitespace, quotes or backslashes.
func tmpfilesWord(p string) string {
	p = strings.ReplaceAll(p, "%", "%%")
	if !strings.ContainsAny(p, " \t\"'\\") {
		return p
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
}
