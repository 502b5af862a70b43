package btrfs_test

import (
	"errors"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

func TestDeleteMany(t *testing.T) {
	fs, tfs := newFS(t)
	create(t, fs, "a", "b", "c", "nest", "nest/inner", "m")
	ids := map[string]uint64{}
	subs, err := fs.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subs {
		ids[s.Path] = s.ID
	}
	tfs.MountSubvol(t, "m")
	errs := map[uint64]error{}
	n, err := fs.DeleteMany([]uint64{ids["a"], ids["m"], ids["nest"], 5, ids["b"]}, func(id uint64, err error) { errs[id] = err })
	if err != nil || n != 2 {
		t.Fatalf("DeleteMany = %d, %v; want 2 deleted", n, err)
	}
	for _, tc := range []struct {
		id   uint64
		want error
	}{
		{ids["a"], nil}, {ids["b"], nil},
		{ids["m"], btrfs.ErrMounted}, {ids["nest"], btrfs.ErrNotEmpty}, {5, btrfs.ErrProtected},
	} {
		if got := errs[tc.id]; (tc.want == nil) != (got == nil) || (tc.want != nil && !errors.Is(got, tc.want)) {
			t.Errorf("delete %d: %v, want %v", tc.id, got, tc.want)
		}
	}
	subs, _ = fs.List()
	var left []string
	for _, s := range subs {
		left = append(left, s.Path)
	}
	if want := []string{"c", "nest", "nest/inner", "m"}; len(left) != len(want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
