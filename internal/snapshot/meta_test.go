package snapshot

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/names/namestest"
)

func TestMetaPath(t *testing.T) {
	if got := MetaPath("/top/@snapshots/@nix/20240229T120405Z-x"); got != "/top/@snapshots/@nix/.20240229T120405Z-x.json" {
		t.Errorf("MetaPath = %q", got)
	}
}

// TestListNames: the listing (and so prune) classifies every name of the
// edge-case table as internal/names does: timeline, manual (with its label)
// or unknown, which retention never touches.
func TestListNames(t *testing.T) {
	var subvols []btrfs.Subvolume
	var want []Entry
	for i, c := range namestest.Cases {
		if !c.Entry() {
			continue
		}
		p := "@snapshots/@persist/" + c.Name
		s := btrfs.Subvolume{ID: uint64(256 + i), Path: p, ReadOnly: true, OTime: namestest.T}
		subvols = append(subvols, s)
		e := Entry{Subvolume: "@persist", Name: c.Name, Path: p, ID: s.ID, OTime: s.OTime, ReadOnly: true, Kind: KindUnknown}
		if c.Snapshot {
			e.Time, e.Label, e.Kind = c.Time, c.Label, KindTimeline
			if c.Label != "" {
				e.Kind = KindManual
			}
		}
		want = append(want, e)
	}
	got := map[string]Entry{}
	for _, e := range List(subvols, "@snapshots", t.TempDir()) {
		e.Problems = nil // otime against the name's time: not what this test is about
		got[e.Path] = e
	}
	for _, w := range want {
		if diff := cmp.Diff(w, got[w.Path]); diff != "" {
			t.Errorf("List: %q (-want +got):\n%s", w.Name, diff)
		}
	}
	if len(got) != len(want) {
		t.Errorf("List returned %d entries, want %d", len(got), len(want))
	}
}
