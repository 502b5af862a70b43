package overhead

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeSource holds the extent items of each subvolume, each with the
// transaction of its tree block.
type fakeSource map[uint64][]struct {
	trans uint64
	e     Extent
}

func (f fakeSource) Extents(id, minTrans uint64, fn func(Extent) error) error {
	if id == 999 {
		return errors.New("boom")
	}
	for _, it := range f[id] {
		if it.trans >= minTrans {
			if err := fn(it.e); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestMeasure(t *testing.T) {
	l := Layout{SnapshotsDir: "@snapshots", Subvolumes: []string{"@home"}}
	e := func(b uint64) Extent { return Extent{Bytenr: b, DiskBytes: 4096, RAMBytes: 4096, NumBytes: 4096} }
	// @home had extents 1 and 2 at transaction 10 (snapshot s1), then 2
	// was deleted and 3 written (snapshot s2 at 20): s2's block holding 1
	// is s1's, skipped; 3 is new. Then 1 was deleted too.
	src := fakeSource{
		256: {{25, e(3)}},
		301: {{5, e(1)}, {5, e(2)}},
		302: {{5, e(1)}, {15, e(3)}},
	}
	subs := []Subvol{
		{ID: 256, Path: "@home", UUID: uuid(1), OTransID: 1},
		{ID: 301, Path: "@snapshots/@home/s1", ParentUUID: uuid(1), OTransID: 10, ReadOnly: true},
		{ID: 302, Path: "@snapshots/@home/s2", ParentUUID: uuid(1), OTransID: 20, ReadOnly: true},
	}
	got, err := Measure(context.Background(), src, l, subs)
	if err != nil {
		t.Fatal(err)
	}
	want := Measurement{
		Subvolumes: []Subvolume{{Name: "@home", Live: Usage{4096, 4096, 4096}, Snapshots: 2,
			Exclusive: 8192, ExclusiveUncompressed: 8192, Walks: 2, FullWalks: 1}},
		Walks: 3, FullWalks: 2, Items: 4,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Measure (-want +got):\n%s", diff)
	}

	if _, err := Measure(context.Background(), src, l, append(subs, Subvol{ID: 999, Path: "@snapshots/@home/bad"})); err == nil ||
		err.Error() != "overhead: read @snapshots/@home/bad: boom" {
		t.Errorf("Measure with a failing walk: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Measure(ctx, src, l, subs); !errors.Is(err, context.Canceled) {
		t.Errorf("Measure cancelled: %v, want context.Canceled", err)
	}
}
