// Package btrfstest gives tests a real btrfs filesystem: a sparse image in the
// test's temporary directory, formatted with mkfs.btrfs, attached to a loop
// device of its own and mounted at its top level (subvolid=5).
//
// Tests that use it need root. Without root they are skipped with a message
// saying so; as root, a missing tool (mkfs.btrfs, losetup, mount) fails the test,
// so that CI running as root never silently skips the real-kernel tier.
//
// Cleanup unmounts every mount of the test's loop device (including mounts the
// test made itself, lazily when busy) and detaches that device only: loop
// devices of other users and processes are never touched.
package btrfstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FS is a loop-mounted btrfs filesystem owned by one test.
type FS struct {
	Image  string // sparse image file
	Device string // loop device, e.g. /dev/loop3
	Mount  string // mountpoint of the top-level subvolume (subvolid=5)
}

type config struct {
	size      int64
	label     string
	mountOpts []string
}

// Option changes how New creates the filesystem.
type Option func(*config)

// Size sets the size of the image in bytes (default 1 GiB).
func Size(bytes int64) Option { return func(c *config) { c.size = bytes } }

// Label sets the filesystem label (mkfs.btrfs -L).
func Label(label string) Option { return func(c *config) { c.label = label } }

// MountOptions adds options to the top-level mount, e.g. "compress=zstd:1".
func MountOptions(opts ...string) Option {
	return func(c *config) { c.mountOpts = append(c.mountOpts, opts...) }
}

// tools are the external commands New needs, with the Debian package of each.
var tools = [][2]string{
	{"mkfs.btrfs", "btrfs-progs"},
	{"losetup", "util-linux"},
	{"mount", "mount"},
}

// host is what New checks before it starts; tests replace it.
type host struct {
	euid     int
	lookPath func(string) (string, error)
}

// New creates, attaches and mounts a fresh btrfs filesystem for tb and
// registers its cleanup. It skips tb when not running as root.
func New(tb testing.TB, opts ...Option) *FS {
	tb.Helper()
	return newFS(tb, host{os.Geteuid(), exec.LookPath}, opts...)
}

func newFS(tb testing.TB, h host, opts ...Option) *FS {
	tb.Helper()
	if h.euid != 0 {
		tb.Skip("real-btrfs test needs root: it creates a loop device and mounts btrfs (run go test as root)")
	}
	for _, t := range tools {
		if _, err := h.lookPath(t[0]); err != nil {
			tb.Fatalf("real-btrfs test needs %s: install the %s package: %v", t[0], t[1], err)
		}
	}
	c := config{size: 1 << 30}
	for _, o := range opts {
		o(&c)
	}

	dir := tb.TempDir()
	fs := &FS{Image: filepath.Join(dir, "btrfs.img"), Mount: filepath.Join(dir, "top")}
	if err := createImage(fs.Image, c.size); err != nil {
		tb.Fatal(err)
	}
	mkfs := []string{"-q", "-f"}
	if c.label != "" {
		mkfs = append(mkfs, "-L", c.label)
	}
	if _, err := run("mkfs.btrfs", append(mkfs, fs.Image)...); err != nil {
		tb.Fatal(err)
	}
	fs.attachMount(tb, c.mountOpts)
	return fs
}

// attachMount attaches fs.Image to a loop device of its own and mounts its
// top level at fs.Mount (created here), registering the cleanup first.
func (fs *FS) attachMount(tb testing.TB, opts []string) {
	tb.Helper()
	dev, err := attach(fs.Image)
	if err != nil {
		tb.Fatal(err)
	}
	fs.Device = dev
	// Registered before mounting: the device is detached even if mount fails.
	// tb.TempDir's own cleanup was registered earlier, so it runs after this one.
	tb.Cleanup(func() { fs.cleanup(tb) })

	if err := os.Mkdir(fs.Mount, 0o755); err != nil {
		tb.Fatal(err)
	}
	mountOpts := strings.Join(append([]string{"subvolid=5"}, opts...), ",")
	if _, err := run("mount", "-t", "btrfs", "-o", mountOpts, fs.Device, fs.Mount); err != nil {
		tb.Fatal(err)
	}
}

// PowerCut returns what a power cut at this instant would leave of fs: a
// copy of its image as the loop device has written it (the last committed
// transaction, and none of the data still only in the page cache of the
// filesystem), attached and mounted read-only as a filesystem of its own.
// fs stays mounted and untouched. The kernel mounts the copy beside the
// original although both carry the same filesystem UUID (a temporary
// UUID for a single-device clone, Linux 6.7 and later).
func (fs *FS) PowerCut(tb testing.TB) *FS {
	tb.Helper()
	dir := tb.TempDir()
	cut := &FS{Image: filepath.Join(dir, "btrfs.img"), Mount: filepath.Join(dir, "top")}
	if _, err := run("cp", "--sparse=always", fs.Image, cut.Image); err != nil {
		tb.Fatal(err)
	}
	cut.attachMount(tb, []string{"ro"})
	return cut
}

// MountSubvol mounts the subvolume name (relative to the top level) at a new
// temporary directory and returns it. The mount is removed when tb ends.
func (fs *FS) MountSubvol(tb testing.TB, name string) string {
	tb.Helper()
	dir := tb.TempDir()
	if _, err := run("mount", "-t", "btrfs", "-o", "subvol="+name, fs.Device, dir); err != nil {
		tb.Fatal(err)
	}
	// Registered after tb.TempDir, so it runs before the directory is removed:
	// removing a still-mounted directory would delete the subvolume's files.
	tb.Cleanup(func() {
		if err := unmount(dir); err != nil {
			tb.Errorf("btrfstest: %v", err)
		}
	})
	return dir
}

func createImage(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return fmt.Errorf("create sparse image %s: %w", path, err)
	}
	return f.Close()
}

// attach attaches image to a free loop device. Another process may grab the
// device losetup found before it is configured; losetup then fails and we
// try again.
func attach(image string) (string, error) {
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var out string
		if out, err = run("losetup", "--find", "--show", image); err == nil {
			return strings.TrimSpace(out), nil
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
	return "", err
}

func (fs *FS) cleanup(tb testing.TB) {
	if err := unmountDevice(fs.Device); err != nil {
		tb.Errorf("btrfstest: %v", err)
	}
	// Detach only if the device still holds our image: if it was released
	// meanwhile, someone else may have attached their own file to it.
	backing, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(fs.Device), "loop/backing_file"))
	if err != nil || strings.TrimSpace(string(backing)) != fs.Image {
		return
	}
	if _, err := run("losetup", "--detach", fs.Device); err != nil {
		tb.Errorf("btrfstest: %v", err)
	}
}

func run(name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
