package plan

import "github.com/server-impermanence/server-impermanence/internal/cmdline"

// Static units (units/). The names are contracts: operators' drop-ins, the
// documentation and the exporter's unit metrics use them.
const (
	SetupService       = "server-impermanence-setup.service"
	SnapshotsService   = "server-snapshots.service"
	SnapshotsTimer     = "server-snapshots.timer"
	CleanupTimer       = "server-snapshots-cleanup.timer"
	MaintenanceTimer   = "btrfs-maintenance.timer"
	ScrubService       = "server-impermanence-scrub.service"
	ScrubTimer         = "server-impermanence-scrub.timer"
	ExporterService    = "server-impermanence-exporter.service"
	TuneService        = "server-impermanence-tune.service"
	PersistService     = "server-impermanence-persist.service"
	FailureService     = "server-impermanence-failure@.service"
	NotifyService      = "server-impermanence-notify@.service"
	ConfigErrorService = "server-impermanence-config-error.service"
	SendService        = "server-impermanence-send@.service"
	SendTimer          = "server-impermanence-send@.timer"
	BlankGoodService   = "server-impermanence-blank-good.service"
)

// SendInstance returns the instance of the template SendService or
// SendTimer for a target: "server-impermanence-send@usb.timer". Target
// names ([a-z0-9][a-z0-9-]*) need no escaping.
func SendInstance(template, target string) string {
	at := len("server-impermanence-send@")
	return template[:at] + target + template[at:]
}

// MachineIDCommitService is systemd's own unit that commits a transient
// machine-id; the generator masks it when /etc/machine-id is persisted.
const MachineIDCommitService = "systemd-machine-id-commit.service"

// StaticUnitDir is where the static units are installed.
const StaticUnitDir = "/usr/lib/systemd/system"

// DocURL is the Documentation= of generated units.
const DocURL = "https://github.com/server-impermanence/server-impermanence/blob/main/docs/generator.md"

// DisableRollback is the kernel command line switch that skips the initrd
// rollback for one boot (server-impermanence.rollback=0).
const DisableRollback = cmdline.Switch

// DropInName is the file name of every drop-in the generator writes.
const DropInName = "50-server-impermanence.conf"
