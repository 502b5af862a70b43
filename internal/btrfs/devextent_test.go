package btrfs_test

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

var devExtentRE = regexp.MustCompile(`key \(1 DEV_EXTENT (\d+)\)[^\n]*\n(?:[^\n]*\n)*?\s+chunk_objectid \d+ chunk_offset \d+ length (\d+)`)

// TestDevExtents compares the device's allocated ranges with btrfs
// inspect-internal dump-tree -t dev.
func TestDevExtents(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@data")
	writeFile(t, tfs.Mount+"/@data/f", string(make([]byte, 40<<20)))
	if err := fs.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := fs.DevExtents(1)
	if err != nil {
		t.Fatal(err)
	}
	var want []btrfs.DevExtent
	for _, m := range devExtentRE.FindAllStringSubmatch(command(t, "btrfs", "inspect-internal", "dump-tree", "-t", "dev", tfs.Device), -1) {
		off, _ := strconv.ParseUint(m[1], 10, 64)
		length, _ := strconv.ParseUint(m[2], 10, 64)
		want = append(want, btrfs.DevExtent{Offset: off, Length: length})
	}
	if diff := cmp.Diff(want, got); diff != "" || len(got) < 4 {
		t.Errorf("DevExtents(1) differs from dump-tree -t dev (-progs +ours):\n%s", diff)
	}
	if none, err := fs.DevExtents(2); err != nil || len(none) != 0 {
		t.Errorf("DevExtents(2) of a one-device filesystem = %v, %v", none, err)
	}
}
