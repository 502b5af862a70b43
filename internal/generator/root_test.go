package generator

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

// fakeHost is a root for --check: device nodes (regular files) and udev
// symlinks under /dev, the member devices of mounted btrfs filesystems
// under /sys/fs/btrfs/<uuid>/devices, the mount table and the kernel
// command line.
type fakeHost struct {
	device    string            // the configured device
	nodes     []string          // /dev paths of device nodes
	links     map[string]string // /dev path -> relative target, as udev makes them
	btrfs     map[string][]string
	mountinfo string // "" = no /proc/self/mountinfo
	cmdline   string
}

func (h fakeHost) build(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	mk := func(p string, data string) {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := strings.Replace(string(config.DefaultTOML()), `device = "/dev/disk/by-label/server"`, `device = "`+h.device+`"`, 1)
	if !strings.Contains(cfg, h.device) {
		t.Fatal("the default configuration has no device line to replace")
	}
	mk(config.DefaultPath, cfg)
	mk("/proc/cmdline", h.cmdline+"\n")
	if h.mountinfo != "" {
		mk("/proc/self/mountinfo", h.mountinfo)
	}
	for _, n := range h.nodes {
		mk(n, "")
	}
	for p, target := range h.links {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	for uuid, devs := range h.btrfs {
		for _, d := range devs {
			mk(filepath.Join("/sys/fs/btrfs", uuid, "devices", d, "size"), "2097152\n")
		}
	}
	mk("/sys/fs/btrfs/features/free_space_tree", "0\n")
	return root
}

// checkRoot runs --check on the host and returns the root: line and the
// first warning (the root's warning comes first).
func checkRoot(t *testing.T, h fakeHost) (line, warning string) {
	t.Helper()
	root := h.build(t)
	var out, errs bytes.Buffer
	if code := Run([]string{"--check"}, Env{Root: root, Stdout: &out, Stderr: &errs}); code != 0 {
		t.Fatalf("--check: exit %d, want 0 (a root that differs only warns)\n%s%s", code, out.String(), errs.String())
	}
	text := strings.ReplaceAll(out.String(), root, "")
	for l := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(l, "root:"); ok {
			line = strings.TrimSpace(v)
		}
	}
	if _, w, ok := strings.Cut(text, "\nWarnings:\n  - "); ok && strings.HasPrefix(w, "device ") {
		warning, _, _ = strings.Cut(w, "\n")
	}
	return line, warning
}

const (
	uuid1 = "4e27972f-3d9e-4898-93a8-2b2900df44d8"
	uuid2 = "9b0c1d2e-3f40-4152-8a6b-7c8d9e0f1a2b"
	// The lines of a btrfs root on sda2 and a root mounted by the kernel
	// without an initrd.
	btrfsOnSda2 = "22 1 0:25 /@root / rw,noatime shared:1 - btrfs /dev/sda2 rw,compress=zstd:1,subvolid=256,subvol=/@root\n"
	btrfsOnRoot = "22 1 0:25 /@root / rw,noatime shared:1 - btrfs /dev/root rw,subvolid=256,subvol=/@root\n"

	missingTail = ": expected in a rescue system, or before the filesystem is created; " +
		"otherwise the rollback and the jobs will not find it"
	otherTail = ": expected in a rescue system, or before the root is moved onto the device; " +
		"otherwise the rollback and the jobs act on a filesystem this system does not run from"
)

func TestCheckRoot(t *testing.T) {
	for _, tc := range []struct {
		name          string
		host          fakeHost
		line, warning string
	}{
		{
			name: "by-label link to the root's device",
			host: fakeHost{device: "/dev/disk/by-label/server", nodes: []string{"/dev/sda2"},
				links: map[string]string{"/dev/disk/by-label/server": "../../sda2"},
				btrfs: map[string][]string{uuid1: {"sda2"}}, mountinfo: btrfsOnSda2},
			line: "/ is btrfs " + uuid1 + " from /dev/sda2: the configured device is one of its devices",
		},
		{
			name: "second device of a two-device root",
			host: fakeHost{device: "/dev/sdb", nodes: []string{"/dev/sda", "/dev/sdb"},
				btrfs:     map[string][]string{uuid1: {"sda", "sdb"}},
				mountinfo: "22 1 0:25 /@root / rw - btrfs /dev/sda rw,subvolid=256,subvol=/@root\n"},
			line: "/ is btrfs " + uuid1 + " from /dev/sda: the configured device is one of its devices",
		},
		{
			name: "device-mapper names",
			host: fakeHost{device: "/dev/disk/by-uuid/" + uuid1, nodes: []string{"/dev/dm-0"},
				links: map[string]string{"/dev/disk/by-uuid/" + uuid1: "../../dm-0", "/dev/mapper/root": "../dm-0"},
				btrfs: map[string][]string{uuid1: {"dm-0"}},
				mountinfo: "1 0 0:2 / / rw - rootfs rootfs rw\n" + // hidden by the next mount on /
					"22 1 0:25 /@root / rw - btrfs /dev/mapper/root rw,subvolid=256,subvol=/@root\n"},
			line: "/ is btrfs " + uuid1 + " from /dev/mapper/root: the configured device is one of its devices",
		},
		{
			name: "another btrfs filesystem",
			host: fakeHost{device: "/dev/disk/by-label/server", nodes: []string{"/dev/sda2", "/dev/sdb1"},
				links: map[string]string{"/dev/disk/by-label/server": "../../sdb1"},
				btrfs: map[string][]string{uuid1: {"sda2"}, uuid2: {"sdb1"}}, mountinfo: btrfsOnSda2},
			line: "/ is btrfs " + uuid1 + " from /dev/sda2: not the configured device",
			warning: "device /dev/disk/by-label/server (sdb1, btrfs " + uuid2 + ") is not the filesystem of / " +
				"(/ is btrfs " + uuid1 + " from /dev/sda2)" + otherTail,
		},
		{
			name: "device without a mounted btrfs",
			host: fakeHost{device: "/dev/sdb1", nodes: []string{"/dev/sda2", "/dev/sdb1"},
				btrfs: map[string][]string{uuid1: {"sda2"}}, mountinfo: btrfsOnSda2},
			line: "/ is btrfs " + uuid1 + " from /dev/sda2: not the configured device",
			warning: "device /dev/sdb1 (sdb1, no mounted btrfs) is not the filesystem of / " +
				"(/ is btrfs " + uuid1 + " from /dev/sda2)" + otherTail,
		},
		{
			name: "device missing",
			host: fakeHost{device: "/dev/disk/by-label/server", nodes: []string{"/dev/sda2"},
				btrfs: map[string][]string{uuid1: {"sda2"}}, mountinfo: btrfsOnSda2},
			line: "/ is btrfs " + uuid1 + " from /dev/sda2: the configured device does not exist",
			warning: "device /dev/disk/by-label/server does not exist on this system " +
				"(/ is btrfs " + uuid1 + " from /dev/sda2)" + missingTail,
		},
		{
			name: "link to a missing node",
			host: fakeHost{device: "/dev/disk/by-label/server", nodes: []string{"/dev/sda2"},
				links: map[string]string{"/dev/disk/by-label/server": "../../sdc1"},
				btrfs: map[string][]string{uuid1: {"sda2"}}, mountinfo: btrfsOnSda2},
			line: "/ is btrfs " + uuid1 + " from /dev/sda2: the configured device does not exist",
			warning: "device /dev/disk/by-label/server does not exist on this system " +
				"(/ is btrfs " + uuid1 + " from /dev/sda2)" + missingTail,
		},
		{
			name: "rescue system",
			host: fakeHost{device: "/dev/disk/by-label/server", nodes: []string{"/dev/sda2"},
				links:     map[string]string{"/dev/disk/by-label/server": "../../sda2"},
				btrfs:     map[string][]string{uuid1: {"sda2"}},
				mountinfo: "30 1 0:30 / / rw - overlay overlay rw,lowerdir=/run/live/rootfs\n" + strings.Replace(btrfsOnSda2, " / rw", " /mnt rw", 1)},
			line: "/ is overlay from overlay: not the configured device",
			warning: "device /dev/disk/by-label/server (sda2, btrfs " + uuid1 + ") is not the filesystem of / " +
				"(/ is overlay from overlay)" + otherTail,
		},
		{
			name: "/dev/root found through root=",
			host: fakeHost{device: "/dev/disk/by-label/server", nodes: []string{"/dev/sda2"},
				links: map[string]string{"/dev/disk/by-label/server": "../../sda2", "/dev/disk/by-uuid/" + uuid1: "../../sda2"},
				btrfs: map[string][]string{uuid1: {"sda2"}}, mountinfo: btrfsOnRoot,
				cmdline: "BOOT_IMAGE=/vmlinuz root=UUID=" + uuid1 + " ro rootflags=subvol=@root"},
			line: "/ is btrfs " + uuid1 + " from /dev/root (root=UUID=" + uuid1 + "): the configured device is one of its devices",
		},
		{
			name: "/dev/root without root=",
			host: fakeHost{device: "/dev/disk/by-label/server", nodes: []string{"/dev/sda2"},
				links: map[string]string{"/dev/disk/by-label/server": "../../sda2"},
				btrfs: map[string][]string{uuid1: {"sda2"}}, mountinfo: btrfsOnRoot},
			line: "/ is btrfs from /dev/root, which no /sys/fs/btrfs/*/devices lists: not compared with the device",
		},
		{
			name: "no mount table",
			host: fakeHost{device: "/dev/sda2", nodes: []string{"/dev/sda2"}},
			line: "not compared with the device: read mounts: open /proc/self/mountinfo: no such file or directory",
		},
		{
			name: "no / in the mount table",
			host: fakeHost{device: "/dev/sda2", nodes: []string{"/dev/sda2"},
				mountinfo: "40 1 0:45 / /top rw - btrfs /dev/sda2 rw,subvolid=5\n"},
			line: "not compared with the device: no / in /proc/self/mountinfo",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, warning := checkRoot(t, tc.host)
			if line != tc.line {
				t.Errorf("--check root: line = %q, want %q", line, tc.line)
			}
			if warning != tc.warning {
				t.Errorf("--check warning = %q, want %q", warning, tc.warning)
			}
		})
	}
}

// TestObserveRootReal reads the real /dev, /sys and mount table: a fresh
// loop btrfs is found by its kernel name in /sys/fs/btrfs/<uuid>/devices
// under the UUID the FS_INFO ioctl reports, and it is never the running
// root, so --check warns.
func TestObserveRootReal(t *testing.T) {
	l := btrfstest.New(t)
	fsys, err := btrfs.Open(l.Mount)
	if err != nil {
		t.Fatal(err)
	}
	fsid := fsys.FSID().String()
	fsys.Close()

	f := observeRoot(DefaultEnv(), l.Device, nil)
	if f.DeviceName != filepath.Base(l.Device) || f.DeviceFS != fsid {
		t.Errorf("observeRoot(%s) device = %q on %q, want %q on %q", l.Device, f.DeviceName, f.DeviceFS, filepath.Base(l.Device), fsid)
	}
	if f.RootErr != "" || f.RootType == "" {
		t.Errorf("observeRoot(%s) root = %+v, want the type of / from /proc/self/mountinfo", l.Device, f)
	}
	if v := judgeRoot(f); !strings.Contains(v.Warning, "("+filepath.Base(l.Device)+", btrfs "+fsid+") is not the filesystem of /") {
		t.Errorf("judgeRoot(%+v).Warning = %q, want the loop device named as not the root", f, v.Warning)
	}
}
