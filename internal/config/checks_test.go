package config

import (
	"strings"
	"testing"
)

// TestChecksAtBoundaries pins the whole message of each single-value check
// at its boundaries: ports 0, 1, 65535 and 65536, modes of 2 and 3 digits
// and 0o7777 + 1, components of 255 and 256 bytes, the control characters
// around 0x20 and 0x7f, the kernel trees and paths that only share a prefix.
func TestChecksAtBoundaries(t *testing.T) {
	long := strings.Repeat("a", 255)
	for _, c := range []struct {
		check func(string) string
		name  string
		in    string
		want  string
	}{
		{checkListen, "listen", ":1", ""},
		{checkListen, "listen", "127.0.0.1:65535", ""},
		{checkListen, "listen", "localhost:9", ""},
		{checkListen, "listen", "[::1]:9", ""},
		{checkListen, "listen", ":0", `":0": port must be a number 1..65535`},
		{checkListen, "listen", ":65536", `":65536": port must be a number 1..65535`},
		{checkListen, "listen", ":http", `":http": port must be a number 1..65535`},
		{checkListen, "listen", "example.org:9", `"example.org:9": host must be an IP address or localhost (name resolution is not available at boot)`},
		{checkListen, "listen", "9100", `"9100" is not host:port: missing port in address`},
		{checkFileMode, "mode", "755", ""},
		{checkFileMode, "mode", "7777", ""},
		{checkFileMode, "mode", "07777", ""},
		{checkFileMode, "mode", "75", `"75" is not an octal mode such as "0755"`},
		{checkFileMode, "mode", "10000", `"10000" is not an octal mode such as "0755"`},
		{checkFileMode, "mode", "0758", `"0758" is not an octal mode such as "0755"`},
		{checkDevice, "device", "", `required: the btrfs filesystem, e.g. "/dev/disk/by-label/server"`},
		{checkDevice, "device", "/dev/sda", ""},
		{checkDevice, "device", "/dev", `"/dev" is not a device path under /dev (use /dev/disk/by-uuid/..., by-label/... or by-partuuid/...)`},
		{checkDevice, "device", "/dev/disk//x", `"/dev/disk//x" is not normalized (no trailing or double slashes)`},
		{checkMode, "mode", "balanced", ""},
		{checkMode, "mode", "fast", `"fast" is not a mode (one of balanced, io-optimized, space-optimized)`},
		{checkClass, "class", "ephemeral", ""},
		{checkClass, "class", "permanent", ""},
		{checkClass, "class", "volatile", `"volatile" is not a class (permanent or ephemeral)`},
		{checkCompression, "compression", "none", ""},
		{checkCompression, "compression", "zstd:-1", `"zstd:-1": compression levels are per filesystem on btrfs (the first mount wins and the property ignores the level); write compression = "zstd" and choose the level with mode`},
		{checkCompression, "compression", "lz4", `"lz4" is not a compression algorithm (one of zstd, lzo, zlib, none)`},
		{checkUser, "user", "root", ""},
		{checkUser, "user", "0", ""},
		{checkUser, "user", "Root", `"Root" is not a valid user name or uid`},
		{checkUser, "user", strings.Repeat("a", 32), ""},
		{checkUser, "user", strings.Repeat("a", 33), "user name of 33 characters: at most 32"},
		{checkUser, "user", "svc$", ""},
		{checkUser, "user", "65534", ""},
		{checkUser, "user", "65535", `"65535": a numeric uid must be below 4294967295 and not 65535`},
		{checkUser, "user", "4294967294", ""},
		{checkUser, "user", "4294967295", `"4294967295": a numeric uid must be below 4294967295 and not 65535`},
		{checkUser, "user", "99999999999999999999", `"99999999999999999999": a numeric uid must be below 4294967295 and not 65535`},
		{checkGroup, "group", "adm", ""},
		{checkGroup, "group", strings.Repeat("g", 33), "group name of 33 characters: at most 32"},
		{checkGroup, "group", "65535", `"65535": a numeric gid must be below 4294967295 and not 65535`},
		{checkGroup, "group", "-x", `"-x" is not a valid group name or gid`},
		{checkAbsPath, "abs", "/", ""},
		{checkAbsPath, "abs", "", "must not be empty"},
		{checkAbsPath, "abs", "srv", `"srv" is not an absolute path`},
		{checkAbsPath, "abs", "/srv/", `"/srv/" is not normalized (no trailing or double slashes)`},
		{checkAbsPath, "abs", "/srv/./x", `"/srv/./x" contains "."; write the normalized path`},
		{checkAbsPath, "abs", "/srv/../x", `"/srv/../x" contains ".."; write the normalized path`},
		{checkAbsPath, "abs", "/" + long, ""},
		{checkAbsPath, "abs", "/" + long + "a", `"/` + long + `a" has a component longer than 255 bytes`},
		{checkAbsPath, "abs", "/a\x1fb", `"/a\x1fb" contains a control character`},
		{checkAbsPath, "abs", "/a\x7fb", `"/a\x7fb" contains a control character`},
		{checkAbsPath, "abs", "/a b~", ""},
		{checkAbsPath, "abs", "/a\nb", `"/a\nb" contains a newline`},
		{checkAbsPath, "abs", "/a\xffb", `"/a\xffb" is not valid UTF-8`},
		{checkRelPath, "rel", "@root/a", ""},
		{checkRelPath, "rel", "", "must not be empty"},
		{checkRelPath, "rel", "/@root", `"/@root" must be relative to the top-level subvolume, without a leading /`},
		{checkRelPath, "rel", "a/../b", `"a/../b" contains ".."`},
		{checkRelPath, "rel", "a//b", `"a//b" is not normalized (empty or "." component)`},
		{checkRelPath, "rel", "a/./b", `"a/./b" is not normalized (empty or "." component)`},
		{checkRelPath, "rel", long, ""},
		{checkRelPath, "rel", long + "a", `"` + long + `a" has a component longer than 255 bytes`},
		{checkRelPath, "rel", "a\tb", `"a\tb" contains a control character`},
		{checkMountpoint, "mountpoint", "/", ""},
		{checkMountpoint, "mountpoint", "/proc", `"/proc" is at or below /proc, the proc filesystem systemd mounts at boot: a mount there would hide it or be hidden by it`},
		{checkMountpoint, "mountpoint", "/run/x", `"/run/x" is at or below /run, the tmpfs systemd mounts at boot: a mount there would hide it or be hidden by it`},
		{checkMountpoint, "mountpoint", "/var/lock", `"/var/lock" is at or below /var/lock, a symlink to /run/lock: a mount there would land on the tmpfs systemd mounts at boot`},
		{checkMountpoint, "mountpoint", "/processes", ""},
		{checkMountpoint, "mountpoint", "/devices/x", ""},
		{checkMountpoint, "mountpoint", "/var/running", ""},
		{checkMountpoint, "mountpoint", "proc", `"proc" is not an absolute path`},
		{checkPersistPath, "persist", "/", `"/": the root cannot be persisted as a whole; make its subvolume permanent instead`},
		{checkPersistPath, "persist", "/sys/kernel", `"/sys/kernel" is at or below /sys, the sysfs systemd mounts at boot: a mount there would hide it or be hidden by it`},
		{checkPersistPath, "persist", "/etc/ssh", ""},
	} {
		if got := c.check(c.in); got != c.want {
			t.Errorf("check %s(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestUnderBelow(t *testing.T) {
	for _, c := range []struct {
		p, dir       string
		under, below bool
	}{
		{"/a", "/a", true, false},
		{"/a/b", "/a", true, true},
		{"/ab", "/a", false, false},
		{"/a", "/", true, true},
		{"/", "/", true, false},
		{"/a", "/a/b", false, false},
	} {
		if got := under(c.p, c.dir); got != c.under {
			t.Errorf("under(%q, %q) = %v, want %v", c.p, c.dir, got, c.under)
		}
		if got := below(c.p, c.dir); got != c.below {
			t.Errorf("below(%q, %q) = %v, want %v", c.p, c.dir, got, c.below)
		}
	}
}
