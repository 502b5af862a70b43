package blanks

import (
	"cmp"
	"slices"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/names"
)

// BootDir is where a root keeps its kernels and initrds, relative to it.
// A blank taken from a root whose /boot is not a separate mount carries
// its own.
const BootDir = "boot"

// Kernel is a kernel and its initrd in a root's BootDir; the paths are
// relative to the root.
type Kernel struct {
	Version string `json:"version"`
	Linux   string `json:"linux"`
	Initrd  string `json:"initrd"`
}

// initrdNames are the initrd file names of kernel version v, in the order
// they are preferred: Debian's (initramfs-tools and dracut on Debian),
// then dracut's and mkinitcpio's own defaults.
func initrdNames(v string) []string {
	return []string{"initrd.img-" + v, "initramfs-" + v + ".img", "initrd-" + v + ".img", "initrd-" + v}
}

// NewestKernel returns the kernel of the newest version among the regular
// files of a BootDir (files, by name) that has an initrd (without one the
// suite's rollback never runs, so the kernel is useless to a blank's boot
// entry); ok is false when there is none. Kernels are vmlinuz-<version>
// (and vmlinux-<version>); names with characters a boot loader
// configuration or a kernel command line would need quoted are ignored.
func NewestKernel(files []string) (k Kernel, ok bool) {
	have := make(map[string]bool, len(files))
	for _, f := range files {
		have[f] = true
	}
	var found []Kernel
	for _, f := range files {
		var v string
		switch {
		case strings.HasPrefix(f, "vmlinuz-"):
			v = f[len("vmlinuz-"):]
		case strings.HasPrefix(f, "vmlinux-"):
			v = f[len("vmlinux-"):]
		default:
			continue
		}
		if !plainName(v) {
			continue
		}
		for _, i := range initrdNames(v) {
			if have[i] {
				found = append(found, Kernel{Version: v, Linux: BootDir + "/" + f, Initrd: BootDir + "/" + i})
				break
			}
		}
	}
	if len(found) == 0 {
		return Kernel{}, false
	}
	// vmlinuz before vmlinux of the same version: the compressed image is
	// the one a boot loader loads.
	return slices.MaxFunc(found, func(a, b Kernel) int {
		return cmp.Or(CompareVersions(a.Version, b.Version), cmp.Compare(a.Linux, b.Linux))
	}), true
}

// CompareVersions orders kernel versions as sort -V does for them: runs
// of digits compare as numbers, everything else byte by byte, so
// 6.1.0-26-amd64 is newer than 6.1.0-9-amd64.
func CompareVersions(a, b string) int {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		if da != db {
			return cmp.Compare(a[0], b[0])
		}
		na, nb := run(a, da), run(b, db)
		ra, rb := a[:na], b[:nb]
		if da {
			ta, tb := strings.TrimLeft(ra, "0"), strings.TrimLeft(rb, "0")
			if c := cmp.Or(cmp.Compare(len(ta), len(tb)), cmp.Compare(ta, tb)); c != 0 {
				return c
			}
		} else if c := cmp.Compare(ra, rb); c != 0 {
			return c
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// run returns the length of the leading run of digits (digits true) or of
// non-digits of s.
func run(s string, digits bool) int {
	i := 0
	for i < len(s) && isDigit(s[i]) == digits {
		i++
	}
	return i
}

// plainName reports whether s is made only of letters, digits and
// ._+~@:- (no space, quote, slash or shell or GRUB metacharacter).
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("._+~@:-", r):
		default:
			return false
		}
	}
	return true
}

// RequestFor returns the server-impermanence.blank= value that asks for
// the former blank e: its name when that needs no quoting on a kernel
// command line (a name may hold spaces and quotes), else the time in it,
// which the rollback accepts as well; "" when e is no former blank.
func RequestFor(e Entry) string {
	b, t, ok := names.ParseBlankHistory(e.Name)
	if e.Current || !ok {
		return ""
	}
	if plainName(strings.ReplaceAll(b, "/", "")) {
		return e.Name
	}
	return names.Time(t)
}
