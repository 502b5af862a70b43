package scrubpass

import (
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

var (
	t0  = time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	now = time.Date(2026, 3, 8, 3, 0, 0, 0, time.UTC)
)

func TestNext(t *testing.T) {
	half := Device{DevID: 1, Resume: 500, Scrubbed: btrfs.ScrubProgress{DataBytesScrubbed: 400}}
	done := Device{DevID: 2, Resume: 900, Done: true, Scrubbed: btrfs.ScrubProgress{DataBytesScrubbed: 800}}
	for _, tc := range []struct {
		name   string
		prev   Pass
		devids []uint64
		want   Pass
	}{
		{"first run", Pass{}, []uint64{1, 2},
			Pass{Started: now, Devices: []Device{{DevID: 1}, {DevID: 2}}}},
		{"resumes; a device done in this pass stays done", Pass{Started: t0, Runs: 1, Devices: []Device{half, done}}, []uint64{1, 2},
			Pass{Started: t0, Runs: 1, Devices: []Device{half, done}}},
		{"a device added starts at 0, a removed one goes", Pass{Started: t0, Runs: 1, Devices: []Device{half, done}}, []uint64{1, 3},
			Pass{Started: t0, Runs: 1, Devices: []Device{half, {DevID: 3}}}},
		{"a done pass starts a new one and keeps when it completed",
			Pass{Started: t0, Runs: 2, Devices: []Device{done}, LastCompleted: t0.Add(5 * time.Hour)}, []uint64{2},
			Pass{Started: now, Devices: []Device{{DevID: 2}}, LastCompleted: t0.Add(5 * time.Hour)}},
	} {
		if diff := cmp.Diff(tc.want, Next(tc.prev, tc.devids, now)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestMeasureAndProgress(t *testing.T) {
	extents := []btrfs.DevExtent{{Offset: 1 << 20, Length: 4 << 20}, {Offset: 8 << 20, Length: 8 << 20}, {Offset: 16 << 20, Length: 16 << 20}}
	for _, tc := range []struct {
		name     string
		dev      Device
		verified uint64
		progress float64
	}{
		{"not started", Device{}, 0, 0},
		{"inside the first extent: nothing whole yet", Device{Resume: 3 << 20}, 0, 0},
		{"at the end of the second", Device{Resume: 16 << 20}, 12 << 20, 12.0 / 28},
		{"inside the third", Device{Resume: 20 << 20}, 12 << 20, 12.0 / 28},
		{"past the end, not done: below 1", Device{Resume: 40 << 20}, 28 << 20, 0.999},
		{"done", Device{Done: true, Resume: 32 << 20}, 28 << 20, 1},
	} {
		d := tc.dev
		d.Measure(extents)
		p := Pass{Devices: []Device{d}}
		if d.Allocated != 28<<20 || d.Verified != tc.verified || p.Progress() != tc.progress {
			t.Errorf("%s: allocated %d, verified %d, progress %v; want %d, %d, %v", tc.name, d.Allocated, d.Verified, p.Progress(), 28<<20, tc.verified, tc.progress)
		}
	}
	two := Pass{Devices: []Device{{Done: true, Allocated: 30, Verified: 30}, {Allocated: 70, Verified: 20}}}
	if got := two.Progress(); got != 0.5 {
		t.Errorf("two devices: progress %v, want 0.5", got)
	}
	if got := (Pass{}).Progress(); got != 0 {
		t.Errorf("no pass: progress %v", got)
	}
}

func TestReadWrite(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of nothing: %v, want fs.ErrNotExist", err)
	}
	p := Pass{Started: t0, Runs: 3, LastCompleted: t0.Add(-time.Hour),
		Devices: []Device{{DevID: 1, Resume: 1 << 30, Allocated: 3 << 30, Verified: 1 << 29, Scrubbed: btrfs.ScrubProgress{DataBytesScrubbed: 1 << 29, LastPhysical: 1 << 30}}}}
	if err := Write(dir+"/sub", p); err != nil {
		t.Fatal(err)
	}
	got, err := Read(dir + "/sub")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
