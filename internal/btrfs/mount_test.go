package btrfs_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

func TestMountTopLevel(t *testing.T) {
	tfs := btrfstest.New(t)
	runDir := t.TempDir()
	dir, unmount, err := btrfs.MountTopLevel(tfs.Device, runDir, "test", true)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := btrfs.Open(dir)
	if err != nil {
		t.Fatalf("Open(%s) after MountTopLevel: %v", dir, err)
	}
	fsys.Close()
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	shared := func(tag string) bool { return strings.HasPrefix(tag, "shared:") }
	if m, ok := mountinfo.At(mounts, dir); !ok || !slices.Contains(m.Options, "ro") || slices.ContainsFunc(m.Optional, shared) {
		t.Errorf("mount at %s = %+v, %t; want read-only and private (no shared: tag)", dir, m, ok)
	}
	if err := unmount(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(runDir); len(entries) != 0 {
		t.Errorf("left in %s after unmount: %v", runDir, entries)
	}
}
