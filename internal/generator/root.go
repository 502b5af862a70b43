package generator

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/cmdline"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// rootFacts is what --check finds about the configured device and the root
// the running system is mounted from. Devices are named as the kernel
// names them (sda2, dm-0, nvme0n1p2): the name a /dev path resolves to,
// and the names under /sys/fs/btrfs/<uuid>/devices. A btrfs filesystem is
// named by its UUID, the name of its /sys/fs/btrfs directory: the
// major:minor of a btrfs mount is an anonymous device, never the disk's.
type rootFacts struct {
	Device     string // the configured device
	DeviceName string // the kernel name it resolves to ("" = it does not exist here)
	DeviceFS   string // UUID of the mounted btrfs filesystem that has it ("" = none)

	RootErr    string // why / could not be read ("" = read)
	RootType   string // filesystem type of /
	RootSource string // what / is mounted from, as mountinfo says
	RootVia    string // root= of the kernel command line, when it, not RootSource, found RootFS
	RootFS     string // btrfs: UUID of the filesystem of / ("" = not found in sysfs)
}

// observeRoot reads the facts below env.Root: /proc/self/mountinfo, /dev
// and /sys/fs/btrfs. The mount source of / names its device; root= of the
// kernel command line is the fallback when that source is no device node
// (/dev/root when the kernel mounted the root without an initrd).
func observeRoot(env Env, device string, cl cmdline.Cmdline) rootFacts {
	f := rootFacts{Device: device, DeviceName: kernelName(env, device)}
	f.DeviceFS = btrfsHolding(env, f.DeviceName)
	mounts, err := mountinfo.Read(env.path("/proc/self/mountinfo"))
	if err != nil {
		f.RootErr = err.Error()
		return f
	}
	m, ok := mountinfo.At(mounts, "/")
	if !ok {
		f.RootErr = "no / in " + env.path("/proc/self/mountinfo")
		return f
	}
	f.RootType, f.RootSource = m.FSType, m.Source
	if m.FSType != "btrfs" {
		return f
	}
	if f.RootFS = btrfsHolding(env, kernelName(env, m.Source)); f.RootFS != "" {
		return f
	}
	if spec, ok := cl.Value("root", false); ok && spec != "" {
		if f.RootFS = btrfsHolding(env, kernelName(env, cmdline.DevicePath(spec))); f.RootFS != "" {
			f.RootVia = "root=" + spec
		}
	}
	return f
}

// kernelName returns the name of the device node a /dev path resolves to,
// or "" when it does not exist.
func kernelName(env Env, dev string) string {
	if !strings.HasPrefix(dev, "/dev/") {
		return ""
	}
	real, err := filepath.EvalSymlinks(env.path(dev))
	if err != nil {
		return ""
	}
	return filepath.Base(real)
}

// btrfsHolding returns the UUID of the mounted btrfs filesystem that has
// the device named name among its devices, or "".
func btrfsHolding(env Env, name string) string {
	if name == "" {
		return ""
	}
	base := env.path("/sys/fs/btrfs")
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if _, err := os.Lstat(filepath.Join(base, e.Name(), "devices", name)); err == nil {
			return e.Name()
		}
	}
	return ""
}

// rootVerdict is what --check prints about the root: a line of the layout
// and, when the configured device is not the running root's filesystem, a
// warning ("" = none).
type rootVerdict struct {
	Line, Warning string
}

// judgeRoot compares the configured device with the root. It warns, never
// fails: checking a configuration from a rescue system, or before the
// root is moved onto the configured device, is legitimate.
func judgeRoot(f rootFacts) rootVerdict {
	if f.RootErr != "" {
		return rootVerdict{Line: "not compared with the device: " + f.RootErr}
	}
	root := "/ is " + f.RootType
	if f.RootFS != "" {
		root += " " + f.RootFS
	}
	root += " from " + f.RootSource
	if f.RootVia != "" {
		root += " (" + f.RootVia + ")"
	}
	switch {
	case f.DeviceName == "":
		return rootVerdict{Line: root + ": the configured device does not exist",
			Warning: fmt.Sprintf("device %s does not exist on this system (%s): expected in a rescue system, "+
				"or before the filesystem is created; otherwise the rollback and the jobs will not find it", f.Device, root)}
	case f.RootType == "btrfs" && f.RootFS == "":
		return rootVerdict{Line: root + ", which no /sys/fs/btrfs/*/devices lists: not compared with the device"}
	case f.RootType == "btrfs" && f.DeviceFS == f.RootFS:
		return rootVerdict{Line: root + ": the configured device is one of its devices"}
	}
	dev := f.DeviceName + ", no mounted btrfs"
	if f.DeviceFS != "" {
		dev = f.DeviceName + ", btrfs " + f.DeviceFS
	}
	return rootVerdict{Line: root + ": not the configured device",
		Warning: fmt.Sprintf("device %s (%s) is not the filesystem of / (%s): expected in a rescue system, "+
			"or before the root is moved onto the device; otherwise the rollback and the jobs act on a filesystem "+
			"this system does not run from", f.Device, dev, root)}
}
