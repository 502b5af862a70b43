package plan

import (
	"path"

	"github.com/server-impermanence/server-impermanence/internal/unitfile"
	"github.com/server-impermanence/server-impermanence/internal/unitname"
)

// Sysroot is where the initrd mounts the real root.
const Sysroot = "/sysroot"

// machineID is the one persisted path the service manager reads before any
// unit runs: it is bound in the initrd, below /sysroot, so that the host's
// PID 1 starts with the persisted machine ID.
const machineID = "/etc/machine-id"

func (b *builder) initrd() {
	if b.env.Cmdline.RollbackDisabled(true) {
		// The setup unit is still hooked: impermanence-rollback reads the
		// same switch (internal/cmdline) before it touches anything, then
		// logs the skip with its MESSAGE_ID and records it, so the journal,
		// the metrics and the "rollback skipped" alert all see it.
		b.notes = append(b.notes, "rollback skipped for this boot: "+DisableRollback+"=0 on the kernel command line; the previous root is kept")
	}
	b.setup()
	b.earlyMounts()
}

// setup hooks the rollback into the initrd transaction. The static unit
// orders it after local-fs-pre.target (after every hibernation resume) and
// before sysroot.mount; the drop-in adds the filesystem's device and the
// resume unit named on the command line.
func (b *builder) setup() {
	dev := b.deviceUnit()
	if dev == "" {
		return
	}
	u := b.dropIn()
	u.Add("Unit", "Requires", dev)
	u.Add("Unit", "After", dev)
	if r := b.env.Cmdline.ResumeDevice(); r != "" {
		if e, err := unitname.PathEscape(r); err == nil {
			u.Add("Unit", "After", unitfile.Spec("systemd-hibernate-resume@"+e+".service"))
		}
	}
	b.unit(Normal, SetupService+".d/"+DropInName, u)
	b.static(Normal, "initrd.target", "wants", SetupService)
}

// earlyMounts mounts, below /sysroot, the persist subvolume and the
// subvolume that holds /var/log/journal, so that they are in place before
// the switch to the host: the host's journald can flush at once, and the
// persisted machine ID can be bound before PID 1 reads it.
func (b *builder) earlyMounts() {
	pm := persistMountpoint(b.cfg)
	journal := ""
	for _, m := range Mounts(b.cfg) {
		if m.Mountpoint != "/" && under("/var/log/journal", m.Mountpoint) && len(m.Mountpoint) > len(journal) {
			journal = m.Mountpoint
		}
	}
	persistUnit := ""
	for _, m := range Mounts(b.cfg) {
		if m.Mountpoint == pm || m.Mountpoint == journal {
			name := b.mountUnit(m, path.Join(Sysroot, m.Mountpoint), "initrd-fs.target")
			if m.Mountpoint == pm {
				persistUnit = name
			}
		}
	}
	if persistUnit == "" {
		return
	}
	for _, f := range b.cfg.Persist.Files {
		if f.Path == machineID {
			b.initrdBind(pm, persistUnit, f.Path)
		}
	}
}

func (b *builder) initrdBind(persist, persistUnit, p string) {
	where := path.Join(Sysroot, p)
	name := b.mountName(where)
	if name == "" {
		return
	}
	src := path.Join(Sysroot, source(persist, p))
	u := b.head("Persisted file " + p + " for the host's service manager (server-impermanence)")
	u.Add("Unit", "Requires", persistUnit)
	u.Add("Unit", "After", persistUnit)
	u.Add("Unit", "Before", "initrd-fs.target")
	u.Add("Unit", "ConditionPathExists", unitfile.Spec(src))
	u.Add("Mount", "What", unitfile.Spec(src))
	u.Add("Mount", "Where", unitfile.Spec(where))
	u.Add("Mount", "Type", "none")
	u.Add("Mount", "Options", "bind")
	b.unit(Late, name, u)
	b.link(Late, "initrd-fs.target", "wants", name)
}

func under(p, dir string) bool {
	return p == dir || dir == "/" || len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}
