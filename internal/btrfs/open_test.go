package btrfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	fs, tfs := newFS(t)
	create(t, fs, "@root", "plain/")
	sub := tfs.MountSubvol(t, "@root")

	for _, tc := range []struct {
		name  string
		mount string
		want  error
	}{
		{"top level", tfs.Mount, nil},
		{"subvol= mount", sub, btrfs.ErrNotTopLevel},
		{"directory in the top level", filepath.Join(tfs.Mount, "plain"), btrfs.ErrNotTopLevel},
		{"subvolume below the top-level mount", filepath.Join(tfs.Mount, "@root"), btrfs.ErrNotTopLevel},
		{"not btrfs", "/proc", btrfs.ErrNotBtrfs},
		{"missing", filepath.Join(tfs.Mount, "missing"), os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := btrfs.Open(tc.mount)
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("Open(%s) = %v, want %v", tc.mount, err, tc.want)
			}
			if err == nil {
				fs.Close()
			}
		})
	}
}
