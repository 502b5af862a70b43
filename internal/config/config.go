package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/sysctl"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

// Mode is the performance mode: it chooses the filesystem-wide mount options
// and the sysctl drop-in.
type Mode string

// The performance modes.
const (
	ModeBalanced       Mode = "balanced"
	ModeIOOptimized    Mode = "io-optimized"
	ModeSpaceOptimized Mode = "space-optimized"
)

// Modes lists the valid modes.
var Modes = []Mode{ModeBalanced, ModeIOOptimized, ModeSpaceOptimized}

// Class says what happens to a subvolume at boot.
type Class string

// The subvolume classes.
const (
	// Permanent subvolumes keep their content across boots.
	Permanent Class = "permanent"
	// Ephemeral subvolumes are reset from their blank at every boot.
	Ephemeral Class = "ephemeral"
)

// Compression algorithms that may be set per subvolume (btrfs property
// "compression"). The level is filesystem-wide and comes from the mode.
var Compressions = []string{"zstd", "lzo", "zlib", "none"}

// Config is the merged, validated configuration.
type Config struct {
	// Device is the btrfs filesystem, as a stable /dev path.
	Device      string
	Mode        Mode
	Archive     Archive
	Blank       Blank
	Persist     Persist
	Subvolumes  []Subvolume
	Snapshots   Snapshots
	Cleanup     Schedule
	Maintenance Maintenance
	Exporter    Exporter
	Alerts      Alerts
	Notify      Notify
	// Sysctl are the kernel parameters of [sysctl], in the order they are
	// first set (main file, then drop-ins); impermanence-tune applies them
	// after the mode's.
	Sysctl []Sysctl `json:",omitempty"`
	// Targets are the [[target]] entries: where snapshots are replicated.
	Targets []Target `json:",omitempty"`
	// Policies are the [policy.NAME] tables, in the order first declared.
	Policies []Policy `json:",omitempty"`

	// Files are the files the configuration was read from, in merge order.
	Files []string

	origins map[string]Pos
}

// Archive is where previous states of ephemeral subvolumes are kept.
type Archive struct {
	// Dir is a plain directory in the top-level subvolume (subvolid 5).
	Dir      string
	KeepDays int
	// KeepMin archives per subvolume are never pruned.
	KeepMin int
}

// Blank is the history of blanks and the trial boots of a new one
// (impermanence-provision --commit).
type Blank struct {
	// Keep is how many former blanks each ephemeral subvolume's blank
	// keeps (<blank>.<time>); the one the running system came from and
	// the one a fallback would use are kept beyond it.
	Keep int
	// Tries is how many trial boots a newly committed blank gets to reach
	// boot-complete.target before the rollback falls back to the previous
	// good blank; 0: no trial, no automatic fallback.
	Tries int
}

// Persist lists the paths kept on the persist subvolume and bind-mounted
// into the ephemeral root.
type Persist struct {
	Subvolume   string
	Directories []PersistPath
	Files       []PersistPath
}

// PersistPath is one persisted directory or file. User, Group and Mode apply
// when the path is first created on the persist subvolume; empty means
// "copy from the live path if it exists, else root:root 0755 (0644 for files)".
type PersistPath struct {
	Path  string
	User  string
	Group string
	Mode  string // octal, e.g. "0700"
	// Implicit marks a path the suite persists by itself (state.DefaultDir), not
	// one the configuration lists.
	Implicit bool `json:",omitempty"`
}

// Subvolume is one [[subvolume]] entry.
type Subvolume struct {
	// Name is the subvolume path relative to the top level.
	Name       string
	Mountpoint string
	Class      Class
	// Compression is an algorithm (zstd, lzo, zlib, none) or "" to inherit
	// the filesystem-wide mount option.
	Compression string
	// CoW false means NoCoW (FS_NOCOW_FL on the empty subvolume root).
	CoW      bool
	Snapshot bool
	// Blank is the read-only pristine snapshot an ephemeral subvolume is
	// reset from; "" resets to an empty subvolume.
	Blank string
	// Archive keeps the previous state of an ephemeral subvolume in the
	// archive dir instead of deleting it.
	Archive bool
	// Policy names the [policy.NAME] the subvolume's snapshots follow, ""
	// for its own or [snapshots]'s.
	Policy string
	// Schedule and Retention are the effective snapshot policy of the
	// subvolume: its own, its named policy's or [snapshots]'s, resolved
	// key group by key group (a schedule, a retention) when loading.
	Schedule  string
	Retention Retention
	// PolicyFrom says where Schedule and Retention come from: PolicyDefault,
	// PolicyOwn or the name of the policy ("policy.db").
	PolicyFrom string `json:",omitempty"`
}

// Where a subvolume's effective policy comes from (Subvolume.PolicyFrom;
// a named policy is "policy.NAME").
const (
	// PolicyDefault: [snapshots]'s schedule and retention.
	PolicyDefault = "snapshots"
	// PolicyOwn: the subvolume's own schedule or retention (what it does
	// not set is [snapshots]'s).
	PolicyOwn = "subvolume"
)

// Policy is one [policy.NAME] table: the schedule and retention of the
// subvolumes that name it, each [snapshots]'s when the table leaves it out.
type Policy struct {
	Name      string
	Schedule  string
	Retention Retention
}

// Policy returns the policy with the given name.
func (c *Config) Policy(name string) (Policy, bool) {
	for _, p := range c.Policies {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// Schedules returns the distinct schedules of the subvolumes with
// snapshot = true, in configuration order; [snapshots]'s when none has
// snapshot = true (the timer then has one schedule, and nothing is due).
func (c *Config) Schedules() []string {
	var out []string
	for _, s := range c.Subvolumes {
		if s.Snapshot && !slices.Contains(out, s.Schedule) {
			out = append(out, s.Schedule)
		}
	}
	if len(out) == 0 {
		out = []string{c.Snapshots.Schedule}
	}
	return out
}

// RetentionOf returns the retention of the snapshots of subvolume name: its
// own when it is configured, else [snapshots]'s (snapshots of a subvolume
// removed from the configuration).
func (c *Config) RetentionOf(name string) Retention {
	if s, ok := c.Subvolume(name); ok {
		return s.Retention
	}
	return c.Snapshots.Retention
}

// Snapshots configures scheduled read-only snapshots.
type Snapshots struct {
	// Dir is the snapshots subvolume, mounted at /.snapshots.
	Dir       string
	Schedule  string
	Retention Retention
}

// SnapshotsMountpoint is where the snapshots subvolume is mounted.
const SnapshotsMountpoint = "/.snapshots"

// Retention is the snapshot retention policy.
type Retention struct {
	Hourly, Daily, Weekly, Monthly, Yearly int
	// KeepMin newest snapshots are always kept.
	KeepMin int
	// MinAge: snapshots younger than this are always kept.
	MinAge time.Duration
	// SpaceBudget, in percent (0: none), makes the cleanup delete the
	// oldest timeline snapshots of a subvolume the retention keeps, beyond
	// KeepMin, until the bytes only its snapshots and archives hold are at
	// most this share of its live data.
	SpaceBudget int
}

// Schedule is a job with an OnCalendar= schedule.
type Schedule struct {
	Schedule string
}

// Maintenance configures balance and scrub.
type Maintenance struct {
	Schedule             string
	BalanceDataUsage     []int
	BalanceMetadataUsage []int
	Scrub                bool
	// OverheadBudget is the storage overhead, in percent of a subvolume's
	// live data, its snapshots and archives may hold alone before the
	// ImpermanenceOverheadOverBudget alert fires.
	OverheadBudget int
}

// Exporter configures the Prometheus exporter.
type Exporter struct {
	// Listen is host:port for HTTP /metrics.
	Listen string
	// TextfileDir is node_exporter's textfile collector directory.
	TextfileDir string
}

// Sysctl is one kernel parameter of [sysctl].
type Sysctl struct {
	// Key is written with dots ("vm.swappiness"), however the file wrote
	// it ("vm/swappiness", vm.swappiness, "vm.swappiness").
	Key string
	// Value is what is written to /proc/sys: the integer, or the integers
	// of an array separated by single spaces ("1024 65000").
	Value string
	// Pos is where the value was set (the last file that sets the key),
	// Replaces where the file before it set the key (zero: none did).
	Pos, Replaces Pos
}

// SysctlOverrides are the [sysctl] parameters as internal/sysctl's
// overrides of the mode, each with its file:line:column. A value that
// replaces an earlier file's comes right after that one (only its source
// is kept), so sysctl.Effective names it in Replaces.
func (c *Config) SysctlOverrides() []sysctl.Override {
	var out []sysctl.Override
	for _, s := range c.Sysctl {
		if s.Replaces.Line != 0 {
			out = append(out, sysctl.Override{Key: s.Key, Source: s.Replaces.String()})
		}
		out = append(out, sysctl.Override{Key: s.Key, Value: s.Value, Source: s.Pos.String()})
	}
	return out
}

// Alerts are the thresholds of the shipped alert rules; the exporter
// exports them and the rules compare against them. A zero threshold of a
// ratio or a slow job disables that alert.
type Alerts struct {
	// FreeSpacePercent: free space below this share of the filesystem.
	FreeSpacePercent int
	// SpaceExhaustionHorizon: free space predicted to run out within it.
	SpaceExhaustionHorizon time.Duration
	// SnapshotStaleIntervals: newest scheduled snapshot older than this
	// many longest schedule intervals.
	SnapshotStaleIntervals int
	// ArchiveGrace: archives older than keep_days plus this remain.
	ArchiveGrace time.Duration
	// SnapshotSlow, RollbackSlow: a run longer than this.
	SnapshotSlow, RollbackSlow time.Duration
}

// Notify is the notification command run when a unit of the suite fails
// (impermanence-notify, in server-impermanence-notify@.service).
type Notify struct {
	// Command is the argv of the command; empty: no notification.
	Command []string
	// Timeout bounds the command; it is killed after it.
	Timeout time.Duration
	// JournalLines is how many of the failed run's last journal lines
	// the command is given.
	JournalLines int
}

// Target formats.
const (
	// FormatBtrfs stores received subvolumes on a btrfs target.
	FormatBtrfs = "btrfs"
	// FormatStream stores send streams as files on any filesystem.
	FormatStream = "stream"
)

// Formats lists the valid target formats.
var Formats = []string{FormatBtrfs, FormatStream}

// Stream compressions of an SSH target.
const (
	CompressNone = "none"
	CompressZstd = "zstd"
)

// Compresses lists the valid stream compressions.
var Compresses = []string{CompressNone, CompressZstd}

// Target is one [[target]] entry: a place the snapshots of some
// subvolumes are replicated to.
type Target struct {
	// Name is the unit instance name: [a-z0-9][a-z0-9-]*.
	Name string
	// URL is an absolute path (a mounted btrfs, for a local disk) or
	// ssh://user@host[:port]/path.
	URL string
	// Subvolumes are the subvolumes whose snapshots are sent, in
	// configuration order; by default every one with snapshot = true.
	Subvolumes []string
	// Format is FormatBtrfs or FormatStream.
	Format   string
	Schedule string
	// Retention is the target's own policy over the snapshots it holds.
	Retention Retention
	// IdentityFile is the SSH private key ("" for ssh's own default).
	IdentityFile string
	// Compress compresses the stream on the SSH connection.
	Compress string
	// RateLimit caps the transfer in bytes per second ("" for none):
	// digits with an optional K, M, G or T suffix (powers of 1024).
	RateLimit string
	// Recipients are the age public keys a stream target's streams are
	// encrypted to; none stores them unencrypted.
	Recipients []string
	// FullEvery is a calendar expression: a stream target starts a new
	// chain with a full stream once its newest full stream is older than
	// the expression's longest interval.
	FullEvery string
}

// Origin returns where the value at a canonical key path was set, e.g.
// Origin("mode") or Origin(`subvolume["@nix"].compression`). The zero Pos
// means the built-in default applied.
func (c *Config) Origin(key string) Pos { return c.origins[key] }

// Subvolume returns the subvolume with the given name.
func (c *Config) Subvolume(name string) (Subvolume, bool) {
	for _, s := range c.Subvolumes {
		if s.Name == name {
			return s, true
		}
	}
	return Subvolume{}, false
}

// Target returns the target with the given name.
func (c *Config) Target(name string) (Target, bool) {
	for _, t := range c.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}

// Ephemeral returns the ephemeral subvolumes in configuration order.
func (c *Config) Ephemeral() []Subvolume {
	var out []Subvolume
	for _, s := range c.Subvolumes {
		if s.Class == Ephemeral {
			out = append(out, s)
		}
	}
	return out
}

// String is the retention as --check and the dry runs print it:
// "hourly=24 daily=7 weekly=4 monthly=12 yearly=0 keep_min=1 min_age=30min",
// with " space_budget=N%" when it has one.
func (r Retention) String() string {
	s := fmt.Sprintf("hourly=%d daily=%d weekly=%d monthly=%d yearly=%d keep_min=%d min_age=%s",
		r.Hourly, r.Daily, r.Weekly, r.Monthly, r.Yearly, r.KeepMin, strings.ReplaceAll(timespan.Format(r.MinAge), " ", ""))
	if r.SpaceBudget > 0 {
		s += fmt.Sprintf(" space_budget=%d%%", r.SpaceBudget)
	}
	return s
}

// PolicySource names where the subvolume's effective policy comes from as
// the configuration writes it: "[snapshots]", "[policy.NAME]" or
// "[[subvolume]]" (its own keys; what it leaves out is [snapshots]'s).
func (s Subvolume) PolicySource() string {
	switch s.PolicyFrom {
	case PolicyOwn:
		return "[[subvolume]]"
	case "", PolicyDefault:
		return "[snapshots]"
	}
	return "[" + s.PolicyFrom + "]"
}
