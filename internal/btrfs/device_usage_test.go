package btrfs_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

func TestDeviceStats(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	got, err := fs.DeviceStats()
	if err != nil {
		t.Fatal(err)
	}
	want := []btrfs.DeviceStats{{DevID: 1, Path: tfs.Device}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DeviceStats() on a fresh filesystem (-want +got):\n%s", diff)
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@data")
	writeFile(t, tfs.Mount+"/@data/f", string(make([]byte, 20<<20)))
	if err := fs.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := fs.Usage()
	if err != nil {
		t.Fatal(err)
	}
	progs := btrfs.ParseProgsUsage(t, command(t, "btrfs", "filesystem", "usage", "-b", tfs.Mount))
	if diff := cmp.Diff(progs, btrfs.ProgsView(got)); diff != "" {
		t.Errorf("Usage() differs from btrfs filesystem usage -b (-progs +ours):\n%s", diff)
	}
	if got.Size != 1<<30 || got.Data.Used < 20<<20 || got.Metadata.Ratio() != 2 {
		t.Errorf("Usage() = %+v, want Size 1 GiB, Data.Used >= 20 MiB, DUP metadata", got)
	}
	if want := fs.FSID().String(); !strings.Contains(command(t, "btrfs", "filesystem", "show", tfs.Mount), want) {
		t.Errorf("FSID() = %s, not in btrfs filesystem show", want)
	}
}
