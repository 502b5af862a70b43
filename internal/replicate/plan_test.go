package replicate

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/retention"
)

var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// src returns source snapshots named by their times, each with the UUID
// "u-<name>".
func src(names ...string) []Source {
	out := make([]Source, len(names))
	for i, n := range names {
		out[i] = Source{Name: n, UUID: "u-" + n}
	}
	return out
}

// held returns target snapshots received from the source snapshot of the
// same name.
func held(names ...string) []Held {
	out := make([]Held, len(names))
	for i, n := range names {
		out[i] = Held{Name: n, ReceivedUUID: "u-" + n}
	}
	return out
}

const (
	d1a = "20261201T010000Z"
	d1b = "20261201T130000Z"
	d2  = "20261202T010000Z"
	d3  = "20261203T010000Z"
	d4  = "20261204T010000Z"
	d5  = "20261205T010000Z"
	lbl = "20261203T060000Z-before-upgrade"
)

const (
	whyKeepMin1 = "keep_min: 1 of the 1 newest"
	whyParent   = "replication parent: the newest snapshot a target also holds"
	whyNone     = "not the newest of a kept hour, day, week, month or year"
)

func TestBuild(t *testing.T) {
	everything := retention.Policy{KeepMin: 100}
	for _, tc := range []struct {
		name   string
		src    []Source
		held   []Held
		policy retention.Policy
		want   Plan
	}{
		{
			name: "first run: a full send, then incrementals; the target's retention chooses what is sent",
			src:  src(d1a, d1b, d2, d3), policy: retention.Policy{Daily: 2},
			want: Plan{
				Sends: []Send{
					{Name: d2, Why: "full: no snapshot both sides hold"},
					{Name: d3, Parent: d2, Why: "incremental from " + d2 + ", the newest snapshot both sides hold before it"},
				},
				Target: []Verdict{
					{d3, true, whyParent + "; daily 2026-12-03 (1/2)"},
					{d2, true, "daily 2026-12-02 (2/2)"},
				},
				Parent: d3,
			},
		},
		{
			name: "caught up: nothing to send, nothing to delete",
			src:  src(d2, d3), held: held(d2, d3), policy: everything,
			want: Plan{
				Target: []Verdict{{d3, true, "keep_min: 1 of the 100 newest; " + whyParent}, {d2, true, "keep_min: 2 of the 100 newest"}},
				Parent: d3,
			},
		},
		{
			name: "incremental from the newest common snapshot; only what the target keeps is sent; it prunes the rest",
			src:  src(d3, d4, d5), held: held(d1a, d2, d3), policy: retention.Policy{KeepMin: 1},
			want: Plan{
				Sends:  []Send{{Name: d5, Parent: d3, Why: "incremental from " + d3 + ", the newest snapshot both sides hold before it"}},
				Target: []Verdict{{d5, true, whyKeepMin1 + "; " + whyParent}, {d3, false, whyNone}, {d2, false, whyNone}, {d1a, false, whyNone}},
				Parent: d5,
			},
		},
		{
			name: "the parent survives the target's retention when nothing new can be sent",
			src:  src(d2), held: append(held(d2), Held{Name: d3, ReceivedUUID: "u-elsewhere"}), policy: retention.Policy{MinAge: time.Hour},
			want: Plan{
				Target: []Verdict{{d3, false, whyNone}, {d2, true, whyParent}},
				Parent: d2,
			},
		},
		{
			name:   "matched by received UUID, never by name: a clash is reported and not overwritten",
			src:    src(d2, d3, d4),
			held:   []Held{{Name: d2, ReceivedUUID: "u-" + d2}, {Name: d3, ReceivedUUID: "u-old-" + d3}},
			policy: everything,
			want: Plan{
				Sends: []Send{{Name: d4, Parent: d2, Why: "incremental from " + d2 + ", the newest snapshot both sides hold before it"}},
				Target: []Verdict{
					{d4, true, "keep_min: 1 of the 100 newest; " + whyParent},
					{d3, true, "keep_min: 2 of the 100 newest"},
					{d2, true, "keep_min: 3 of the 100 newest"},
				},
				Parent:   d4,
				Warnings: []string{"@persist/" + d3 + ": the target holds another subvolume of that name (it was received from u-old-" + d3 + ", the source snapshot is u-" + d3 + "): not sent, nothing overwritten"},
			},
		},
		{
			name: "a renamed copy is still the same snapshot; no common snapshot by name alone",
			src:  src(d2, d3), held: []Held{{Name: d1a, ReceivedUUID: "u-" + d2}, {Name: d2, ReceivedUUID: "u-other"}},
			policy: everything,
			want: Plan{
				Sends: []Send{{Name: d3, Parent: d2, Why: "incremental from " + d2 + ", the newest snapshot both sides hold before it"}},
				Target: []Verdict{
					{d3, true, "keep_min: 1 of the 100 newest; " + whyParent},
					{d2, true, "keep_min: 2 of the 100 newest"},
					{d1a, true, "keep_min: 3 of the 100 newest"},
				},
				Parent: d3,
			},
		},
		{
			name: "backfill: an older snapshot goes incrementally from the oldest newer common one",
			src:  src(d2, d3, d4), held: held(d4), policy: everything,
			want: Plan{
				Sends: []Send{
					{Name: d2, Parent: d4, Why: "incremental from " + d4 + ", the oldest snapshot both sides hold after it (none before)"},
					{Name: d3, Parent: d2, Why: "incremental from " + d2 + ", the newest snapshot both sides hold before it"},
				},
				Target: []Verdict{{d4, true, "keep_min: 1 of the 100 newest; " + whyParent}, {d3, true, "keep_min: 2 of the 100 newest"}, {d2, true, "keep_min: 3 of the 100 newest"}},
				Parent: d4,
			},
		},
		{
			name: "manual snapshots are sent and kept as manual; foreign subvolumes are never touched",
			src:  src(d3, lbl, d4), held: append(held(d3), Held{Name: "lost+found"}, Held{Name: d1a}), policy: retention.Policy{KeepMin: 1},
			want: Plan{
				Sends: []Send{
					{Name: lbl, Parent: d3, Why: "incremental from " + d3 + ", the newest snapshot both sides hold before it"},
					{Name: d4, Parent: lbl, Why: "incremental from " + lbl + ", the newest snapshot both sides hold before it"},
				},
				Target: []Verdict{
					{d4, true, whyKeepMin1 + "; " + whyParent},
					{lbl, true, "manual snapshot, no expiry"},
					{d3, false, whyNone},
					{d1a, true, "no received UUID (not made by btrfs receive): never touched"},
					{"lost+found", true, "not a snapshot name: never touched"},
				},
				Parent: d4,
			},
		},
		{
			name: "the newest source snapshot is sent even when the retention would not keep it",
			src:  src(d1a, d1b), policy: retention.Policy{MinAge: time.Hour},
			want: Plan{
				Sends:  []Send{{Name: d1b, Why: "full: no snapshot both sides hold"}},
				Target: []Verdict{{d1b, true, whyParent}},
				Parent: d1b,
			},
		},
		{
			name: "nothing on either side",
			want: Plan{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Subvolume = "@persist"
			got := Build("@persist", tc.src, tc.held, tc.policy, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Build (-want +got):\n%s", diff)
			}
		})
	}
}

// The plan does not depend on the order of its input.
func TestBuildOrderIndependent(t *testing.T) {
	s, h := src(d1a, d2, d3, lbl, d4, d5), held(d1b, d3, d4)
	want := Build("@x", s, h, retention.Policy{Daily: 3}, now)
	for i := range 20 {
		rs, rh := append([]Source(nil), s...), append([]Held(nil), h...)
		for j := range rs {
			k := (j*7 + i) % len(rs)
			rs[j], rs[k] = rs[k], rs[j]
		}
		for j := range rh {
			k := (j*5 + i) % len(rh)
			rh[j], rh[k] = rh[k], rh[j]
		}
		if diff := cmp.Diff(want, Build("@x", rs, rh, retention.Policy{Daily: 3}, now)); diff != "" {
			t.Fatalf("Build with shuffled input differs (-want +got):\n%s", diff)
		}
	}
}

func TestPolicy(t *testing.T) {
	got := Policy(config.Target{Retention: config.Retention{Hourly: 1, Daily: 2, Weekly: 3, Monthly: 4, Yearly: 5, KeepMin: 6, MinAge: time.Minute}}, time.UTC)
	want := retention.Policy{Hourly: 1, Daily: 2, Weekly: 3, Monthly: 4, Yearly: 5, KeepMin: 6, MinAge: time.Minute, Location: time.UTC}
	if got != want {
		t.Errorf("Policy = %+v, want %+v", got, want)
	}
}
