package btrfstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// stopTB records how newFS stopped the test instead of stopping it.
type stopTB struct {
	testing.TB
	skipped, failed string
}

type stopped struct{}

func (s *stopTB) Skip(args ...any) { s.skipped = fmt.Sprint(args...); panic(stopped{}) }
func (s *stopTB) Fatalf(format string, args ...any) {
	s.failed = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func TestNewSkipsWithoutRoot(t *testing.T) {
	tb := runStopped(t, host{euid: 1000, lookPath: exec.LookPath})
	if !strings.Contains(tb.skipped, "needs root") || tb.failed != "" {
		t.Errorf("newFS as uid 1000: skipped %q, failed %q; want a skip saying it needs root", tb.skipped, tb.failed)
	}
}

// Running as root, a missing tool is a failure, not a skip: CI runs as root
// and must not silently lose the real-kernel tests.
func TestNewFailsWithoutMkfs(t *testing.T) {
	lookPath := func(name string) (string, error) {
		if name == "mkfs.btrfs" {
			return "", exec.ErrNotFound
		}
		return "/usr/bin/" + name, nil
	}
	tb := runStopped(t, host{euid: 0, lookPath: lookPath})
	if !strings.Contains(tb.failed, "install the btrfs-progs package") || tb.skipped != "" {
		t.Errorf("newFS without mkfs.btrfs: failed %q, skipped %q; want a failure naming btrfs-progs", tb.failed, tb.skipped)
	}
}

func runStopped(t *testing.T, h host) (tb *stopTB) {
	tb = &stopTB{TB: t}
	defer func() {
		if r := recover(); r != (stopped{}) {
			panic(r)
		}
	}()
	newFS(tb, h)
	t.Fatal("newFS returned, want it to stop the test")
	return tb
}

func TestNew(t *testing.T) {
	var fs *FS
	var busy *os.File
	t.Run("inner", func(t *testing.T) {
		t.Cleanup(func() { busy.Close() }) // after fs's cleanup: the mount is busy then
		fs = New(t, Size(256<<20), Label("btrfstest"), MountOptions("noatime"))

		if st, err := os.Stat(fs.Image); err != nil || st.Size() != 256<<20 {
			t.Errorf("image %s: %v, %v; want 256 MiB", fs.Image, st, err)
		}
		if got := backingFile(fs.Device); got != fs.Image {
			t.Errorf("backing file of %s = %q, want %s", fs.Device, got, fs.Image)
		}
		if top, ok := mountAt(t, fs.Mount); !ok || top.FSType != "btrfs" || top.Source != fs.Device ||
			top.SubvolID != 5 || !slices.Contains(top.Options, "noatime") {
			t.Errorf("mount at %s = %+v, %t; want the top level (subvolid=5) of the btrfs on %s, noatime", fs.Mount, top, ok, fs.Device)
		}
		if out, _ := run("btrfs", "filesystem", "label", fs.Mount); strings.TrimSpace(out) != "btrfstest" {
			t.Errorf("label = %q, want btrfstest", out)
		}

		if _, err := run("btrfs", "subvolume", "create", filepath.Join(fs.Mount, "@sub")); err != nil {
			t.Fatal(err)
		}
		sub := fs.MountSubvol(t, "@sub")
		if m, ok := mountAt(t, sub); !ok || m.Root != "/@sub" {
			t.Errorf("mount at MountSubvol(@sub) = %+v, %t; want a mount of /@sub", m, ok)
		}
		// Left for the cleanup: a mount below the top level, and a busy one.
		leak := filepath.Join(fs.Mount, "@sub", "leak")
		if err := os.Mkdir(leak, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := run("mount", "-o", "subvolid=5", fs.Device, leak); err != nil {
			t.Fatal(err)
		}
		var err error
		if busy, err = os.Create(filepath.Join(leak, "open-file")); err != nil {
			t.Fatal(err)
		}
	})
	if fs == nil {
		t.FailNow()
	}
	if mounts, err := mountsOf(fs.Device); err != nil || len(mounts) != 0 {
		t.Errorf("after cleanup, %s is still mounted: %v, %v", fs.Device, mounts, err)
	}
	// The busy mount was detached lazily; the device goes once it is released.
	for deadline := time.Now().Add(5 * time.Second); backingFile(fs.Device) == fs.Image; {
		if time.Now().After(deadline) {
			t.Fatalf("after cleanup, %s still holds %s", fs.Device, fs.Image)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func backingFile(dev string) string {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop/backing_file"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// mountAt returns the mount at dir.
func mountAt(t *testing.T, dir string) (mountinfo.Mount, bool) {
	t.Helper()
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	m, ok := mountinfo.At(mounts, dir)
	return m, ok
}
