package btrfs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
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
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	var line string
	for l := range strings.Lines(string(mi)) {
		if strings.Contains(l, " "+dir+" ") {
			line = l
		}
	}
	if !strings.Contains(line, " ro,") || strings.Contains(line, "shared:") {
		t.Errorf("mountinfo line %q: want read-only and private (no shared: tag)", line)
	}
	if err := unmount(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(runDir); len(entries) != 0 {
		t.Errorf("left in %s after unmount: %v", runDir, entries)
	}
}
