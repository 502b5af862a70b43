package plan

import (
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// FSOptions returns the filesystem-wide btrfs mount options of a mode.
//
// Every btrfs-specific mount option is per filesystem: the first mount
// (the root, from rootflags=) fixes them and a later mount with other
// options silently changes nothing (no error either). So every generated mount
// carries exactly these options, and server-impermanence-tune.service
// applies them with one remount of / (which changes them for all mounts).
// Each mode states commit= and the compression flavour explicitly, so that
// switching modes and remounting restores every option the mode sets.
// space_cache is left alone: v2 is the default of current btrfs-progs and
// a remount cannot convert it.
func FSOptions(m config.Mode) []string {
	switch m {
	case config.ModeIOOptimized:
		// Cheapest compression level; fewer, larger commits.
		return []string{"compress=zstd:1", "discard=async", "commit=60"}
	case config.ModeSpaceOptimized:
		// Compress everything (no early give-up on incompressible starts)
		// at level 6: measured with make bench-io, btrfs's zstd levels 2 to
		// 5 store logs larger than level 1 (balanced) and 6 is the first
		// that is smaller on logs and databases alike; higher levels gain
		// under 1% more at up to twice the CPU (docs/performance.md).
		return []string{"compress-force=zstd:6", "discard=async", "commit=30"}
	default: // balanced
		return []string{"compress=zstd:1", "discard=async", "commit=30"}
	}
}

// MountFlags returns the per-mount flags for a mountpoint: only ro/rw,
// atime, nodev/nosuid/noexec (and subvol=) are per mount on btrfs.
// Every mount is noatime (atime updates turn reads into metadata writes,
// which on CoW unshare snapshotted metadata); the snapshots mount and
// /var/log never hold devices, setuid programs or executables; /var/tmp and
// /var/cache hold no devices or setuid programs (but some tools execute
// from /var/tmp).
func MountFlags(mountpoint string) []string {
	switch mountpoint {
	case config.SnapshotsMountpoint, "/var/log":
		return []string{"noatime", "nodev", "nosuid", "noexec"}
	case "/var/tmp", "/var/cache":
		return []string{"noatime", "nodev", "nosuid"}
	default:
		return []string{"noatime"}
	}
}

// MountOptions returns the Options= of the mount of subvolume name at
// mountpoint: subvol=, the mode's filesystem-wide options, the per-mount
// flags.
func MountOptions(m config.Mode, name, mountpoint string) string {
	opts := append([]string{"subvol=" + name}, FSOptions(m)...)
	return strings.Join(append(opts, MountFlags(mountpoint)...), ",")
}

// RootFlags is what rootflags= on the kernel command line should be for the
// root subvolume: the first mount of the filesystem fixes its options.
func RootFlags(m config.Mode, rootSubvolume string) string {
	return MountOptions(m, rootSubvolume, "/")
}
