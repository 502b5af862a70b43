package overhead

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTally(t *testing.T) {
	live := Walk{Role: Live, Group: "@home"}
	other := Walk{Role: Other}
	s1 := Walk{Role: Snapshot, Group: "@home"}
	s2 := Walk{Role: Snapshot, Group: "@home", MinTrans: 10}
	a1 := Walk{Role: Archive, Group: "@root"}
	rootLive := Walk{Role: Live, Group: "@root"}
	type item struct {
		w Walk
		e Extent
	}
	reg := func(bytenr, disk, ram, num uint64) Extent {
		return Extent{Bytenr: bytenr, DiskBytes: disk, RAMBytes: ram, NumBytes: num}
	}
	for _, tc := range []struct {
		name  string
		walks []Walk
		items []item
		want  []Subvolume
	}{
		{
			name: "empty",
			want: []Subvolume{{Name: "@home"}, {Name: "@root"}},
		},
		{
			name:  "a snapshot sharing everything holds nothing alone",
			walks: []Walk{s1},
			items: []item{{live, reg(100, 4096, 4096, 4096)}, {s1, reg(100, 4096, 4096, 4096)}},
			want: []Subvolume{
				{Name: "@home", Live: Usage{4096, 4096, 4096}, Snapshots: 1, Walks: 1, FullWalks: 1},
				{Name: "@root"},
			},
		},
		{
			name:  "a file deleted from the live subvolume, held by two snapshots, counted once",
			walks: []Walk{s1, s2},
			items: []item{
				{live, reg(100, 4096, 4096, 4096)},
				{s1, reg(100, 4096, 4096, 4096)}, {s1, reg(200, 8192, 32768, 32768)},
				{s2, reg(200, 8192, 32768, 32768)},
			},
			want: []Subvolume{
				{Name: "@home", Live: Usage{4096, 4096, 4096}, Snapshots: 2, Exclusive: 8192, ExclusiveUncompressed: 32768, Walks: 2, FullWalks: 1},
				{Name: "@root"},
			},
		},
		{
			name: "compsize's live figures: a compressed extent, a reflink, a partial reference, inline data, a hole",
			items: []item{
				{live, reg(100, 4096, 16384, 16384)},
				{live, reg(100, 4096, 16384, 16384)}, // a reflink copy: referenced twice, on disk once
				{live, reg(200, 8192, 8192, 4096)},   // half of an extent overwritten
				{live, Extent{Inline: true, DiskBytes: 30, RAMBytes: 100, NumBytes: 100}},
				{live, Extent{NumBytes: 65536}}, // a hole
			},
			want: []Subvolume{
				{Name: "@home", Live: Usage{Disk: 4096 + 8192 + 30, Uncompressed: 16384 + 8192 + 100, Referenced: 2*16384 + 4096 + 100}},
				{Name: "@root"},
			},
		},
		{
			name:  "an extent another subvolume keeps (a blank, a reflink into an unmanaged subvolume) is no overhead",
			walks: []Walk{a1},
			items: []item{{other, reg(300, 4096, 4096, 4096)}, {a1, reg(300, 4096, 4096, 4096)}, {a1, reg(301, 4096, 4096, 4096)}},
			want: []Subvolume{
				{Name: "@home"},
				{Name: "@root", Archives: 1, Exclusive: 4096, ExclusiveUncompressed: 4096, Walks: 1, FullWalks: 1},
			},
		},
		{
			name:  "kept after held: the order of the walks does not matter",
			items: []item{{a1, reg(300, 4096, 4096, 4096)}, {rootLive, reg(300, 4096, 4096, 4096)}},
			want: []Subvolume{
				{Name: "@home"},
				{Name: "@root", Live: Usage{4096, 4096, 4096}},
			},
		},
		{
			name:  "an extent held by snapshots of two subvolumes counts for both; inline data in a snapshot never",
			items: []item{{s1, reg(500, 4096, 4096, 4096)}, {a1, reg(500, 4096, 4096, 4096)}, {s1, Extent{Inline: true, DiskBytes: 100, RAMBytes: 100}}},
			want: []Subvolume{
				{Name: "@home", Exclusive: 4096, ExclusiveUncompressed: 4096},
				{Name: "@root", Exclusive: 4096, ExclusiveUncompressed: 4096},
			},
		},
		{
			name:  "a subvolume outside the configuration is ignored",
			items: []item{{Walk{Role: Snapshot, Group: "@gone"}, reg(600, 4096, 4096, 4096)}},
			want:  []Subvolume{{Name: "@home"}, {Name: "@root"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := NewTally([]string{"@home", "@root", "@home"})
			for _, w := range tc.walks {
				tl.Begin(w)
			}
			for _, it := range tc.items {
				tl.Add(it.w, it.e)
			}
			if diff := cmp.Diff(tc.want, tl.Result()); diff != "" {
				t.Errorf("Result (-want +got):\n%s", diff)
			}
			if got := tl.Items(); got != uint64(len(tc.items)) {
				t.Errorf("Items() = %d, want %d", got, len(tc.items))
			}
		})
	}
}

func TestRatios(t *testing.T) {
	for _, tc := range []struct {
		s           Subvolume
		ratio, comp float64
		over15      bool
	}{
		{Subvolume{}, 0, 1, false},
		{Subvolume{Live: Usage{Disk: 1000, Uncompressed: 2000}, Exclusive: 150}, 0.15, 2, false},
		{Subvolume{Live: Usage{Disk: 1000, Uncompressed: 1000}, Exclusive: 151}, 0.151, 1, true},
		{Subvolume{Exclusive: 1}, math.Inf(1), 1, true},
		{Subvolume{Live: Usage{Disk: 3, Uncompressed: 1}}, 0, 1.0 / 3, false},
	} {
		if got := tc.s.Ratio(); got != tc.ratio {
			t.Errorf("%+v.Ratio() = %v, want %v", tc.s, got, tc.ratio)
		}
		if got := tc.s.CompressionRatio(); got != tc.comp {
			t.Errorf("%+v.CompressionRatio() = %v, want %v", tc.s, got, tc.comp)
		}
		if got := tc.s.Over(15); got != tc.over15 {
			t.Errorf("%+v.Over(15) = %v, want %v", tc.s, got, tc.over15)
		}
	}
}
