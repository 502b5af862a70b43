package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/calendar"
	"github.com/server-impermanence/server-impermanence/internal/sysctl"
)

// The syntax checks of single values the schema names. Each returns what
// is wrong with the value, or "".

// checkNotifyArg checks one argument of [notify].command.
func checkNotifyArg(a string) string {
	switch {
	case a == "":
		return "an empty argument"
	case strings.ContainsRune(a, 0):
		return fmt.Sprintf("argument %q contains a NUL byte", a)
	}
	return ""
}

func checkDevice(d string) string {
	switch {
	case d == "":
		return `required: the btrfs filesystem, e.g. "/dev/disk/by-label/server"`
	case !strings.HasPrefix(d, "/dev/"):
		return fmt.Sprintf("%q is not a device path under /dev (use /dev/disk/by-uuid/..., by-label/... or by-partuuid/...)", d)
	}
	return checkAbsPath(d)
}

func checkMode(m string) string {
	if slices.Contains(Modes, Mode(m)) {
		return ""
	}
	names := make([]string, len(Modes))
	for i, m := range Modes {
		names[i] = string(m)
	}
	return fmt.Sprintf("%q is not a mode (one of %s)", m, strings.Join(names, ", "))
}

func checkClass(c string) string {
	switch Class(c) {
	case Permanent, Ephemeral:
		return ""
	}
	return fmt.Sprintf("%q is not a class (permanent or ephemeral)", c)
}

var compressionLevel = regexp.MustCompile(`^(zstd|zlib|lzo):(-?[0-9]+)$`)

func checkCompression(c string) string {
	if m := compressionLevel.FindStringSubmatch(c); m != nil {
		return fmt.Sprintf("%q: compression levels are per filesystem on btrfs (the first mount wins and the property ignores the level); write compression = %q and choose the level with mode",
			c, m[1])
	}
	if !slices.Contains(Compressions, c) {
		return fmt.Sprintf("%q is not a compression algorithm (one of %s)", c, strings.Join(Compressions, ", "))
	}
	return ""
}

// checkSysctlKey checks the name of a kernel parameter as [sysctl] writes
// it: internal/sysctl's syntax (names of letters, digits and _-@:+, not
// starting with '-', separated by dots or slashes; at least two), with one
// kind of separator, at most MaxSysctlKey bytes. So no name reaches
// outside /proc/sys: no "..", no leading or doubled separator, no globs.
func checkSysctlKey(k string) string {
	const syntax = "names of letters, digits and _-@:+ separated by dots or slashes, such as vm.swappiness or net/core/somaxconn"
	switch {
	case k == "":
		return "empty kernel parameter name"
	case len(k) > MaxSysctlKey:
		return fmt.Sprintf("kernel parameter name longer than %d bytes", MaxSysctlKey)
	case strings.HasPrefix(k, "/") || strings.HasPrefix(k, "."):
		return fmt.Sprintf("kernel parameter %q: a name relative to /proc/sys, without a leading %q", k, k[:1])
	case strings.Contains(k, "..") || strings.Contains(k, "//") || strings.Contains(k, "./") || strings.Contains(k, "/."):
		return fmt.Sprintf("kernel parameter %q: an empty name between separators (no \"..\": the key is a path below /proc/sys)", k)
	case strings.Contains(k, ".") && strings.Contains(k, "/"):
		return fmt.Sprintf("kernel parameter %q mixes '.' and '/' separators: write it with one of them (a parameter whose name holds a dot, such as a VLAN interface's, needs a sysctl.d(5) file)", k)
	case !sysctl.ValidKey(k):
		return fmt.Sprintf("%q is not a kernel parameter: %s", k, syntax)
	}
	return ""
}

func checkSchedule(expr string) string {
	if err := calendar.Validate(expr); err != nil {
		return fmt.Sprintf("invalid OnCalendar= schedule: %v", err)
	}
	return ""
}

func checkListen(l string) string {
	host, port, err := net.SplitHostPort(l)
	n, perr := strconv.Atoi(port)
	switch {
	case err != nil:
		// The error's own text repeats the address unquoted.
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Sprintf("%q is not host:port: %s", l, ae.Err)
		}
		return fmt.Sprintf("%q is not host:port", l)
	case perr != nil || n < 1 || n > 65535:
		return fmt.Sprintf("%q: port must be a number 1..65535", l)
	case host != "" && net.ParseIP(host) == nil && host != "localhost":
		return fmt.Sprintf("%q: host must be an IP address or localhost (name resolution is not available at boot)", l)
	}
	return ""
}

var userName = regexp.MustCompile(`^([a-z_][a-z0-9_-]*\$?|[0-9]+)$`)

// maxAccountName is the longest user or group name accepted: useradd's and
// groupadd's limit on Linux. A numeric id is a uid_t/gid_t below
// 4294967295 ((uid_t)-1) and not 65535 ((uint16_t)-1), the two that
// systemd and the kernel reserve.
const maxAccountName = 32

// accountName says what is wrong with a user or group name or id, "" if
// nothing is.
func accountName(s, what string) string {
	switch {
	case !userName.MatchString(s):
		return fmt.Sprintf("%q is not a valid %s name or %sid", s, what, what[:1])
	case s[0] >= '0' && s[0] <= '9':
		if n, err := strconv.ParseUint(s, 10, 32); err != nil || n == 65535 || n == 4294967295 {
			return fmt.Sprintf("%q: a numeric %sid must be below 4294967295 and not 65535", s, what[:1])
		}
	case len(s) > maxAccountName:
		return fmt.Sprintf("%s name of %d characters: at most %d", what, len(s), maxAccountName)
	}
	return ""
}

func checkUser(u string) string { return accountName(u, "user") }

func checkGroup(g string) string { return accountName(g, "group") }

func checkFileMode(mode string) string {
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil || m > 0o7777 || len(mode) < 3 {
		return fmt.Sprintf("%q is not an octal mode such as \"0755\"", mode)
	}
	return ""
}

// KernelTrees are the trees the kernel and systemd own from early boot on
// (API filesystems, and the compatibility links into /run). No mountpoint
// and no persisted path may be at or below one.
var KernelTrees = []struct{ Dir, Why string }{
	{"/proc", "the proc filesystem systemd mounts at boot: a mount there would hide it or be hidden by it"},
	{"/sys", "the sysfs systemd mounts at boot: a mount there would hide it or be hidden by it"},
	{"/dev", "the devtmpfs the kernel and systemd mount at boot: a mount there would hide it or be hidden by it"},
	{"/run", "the tmpfs systemd mounts at boot: a mount there would hide it or be hidden by it"},
	{"/var/run", "a symlink to /run: a mount there would land on the tmpfs systemd mounts at boot"},
	{"/var/lock", "a symlink to /run/lock: a mount there would land on the tmpfs systemd mounts at boot"},
}

// checkMountpoint checks where something is mounted: an absolute,
// normalized path outside the kernel trees.
func checkMountpoint(p string) string {
	if msg := checkAbsPath(p); msg != "" {
		return msg
	}
	for _, t := range KernelTrees {
		if under(p, t.Dir) {
			return fmt.Sprintf("%q is at or below %s, %s", p, t.Dir, t.Why)
		}
	}
	return ""
}

// checkPersistPath checks a persisted directory or file: a mountpoint of
// a bind mount, and not the root as a whole.
func checkPersistPath(p string) string {
	if p == "/" {
		return `"/": the root cannot be persisted as a whole; make its subvolume permanent instead`
	}
	return checkMountpoint(p)
}

// checkTextfileDir checks [exporter].textfile_dir: an absolute, normalized
// path outside /proc and /sys, the kernel's own interfaces, where no file
// can be created (every job's textfile would fail to be written).
func checkTextfileDir(p string) string {
	if msg := checkAbsPath(p); msg != "" {
		return msg
	}
	for _, dir := range []string{"/proc", "/sys"} {
		if under(p, dir) {
			return fmt.Sprintf("%q is at or below %s, a kernel interface where no textfile can be written", p, dir)
		}
	}
	return ""
}

// MaxPolicyName is the longest [policy.NAME] name.
const MaxPolicyName = 64

var policyName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// checkPolicyName checks the name of a [policy.NAME] table (and of a
// subvolume's policy = "NAME"): it is printed by --check and the dry runs.
func checkPolicyName(n string) string {
	switch {
	case len(n) > MaxPolicyName:
		return fmt.Sprintf("policy name %q is longer than %d bytes", n, MaxPolicyName)
	case !policyName.MatchString(n):
		return fmt.Sprintf("policy name %q must match [a-z0-9][a-z0-9_-]*", n)
	}
	return ""
}
