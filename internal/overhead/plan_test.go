package overhead

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var layout = Layout{SnapshotsDir: "@snapshots", ArchiveDir: "old_roots", Subvolumes: []string{"@root", "@home", "@var/lib"}}

func uuid(b byte) [16]byte { return [16]byte{b} }

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		path  string
		role  Role
		group string
	}{
		{"@home", Live, "@home"},
		{"@var/lib", Live, "@var/lib"},
		{"@snapshots/@home/20260101T000000Z", Snapshot, "@home"},
		{"@snapshots/@home/20260101T000000Z-pre-upgrade", Snapshot, "@home"},
		{"@snapshots/@var/lib/20260101T000000Z", Snapshot, "@var/lib"},
		{"old_roots/@root/20260101T000000Z-0a1b2c3d", Archive, "@root"},
		{"old_roots/@root/20260101T000000Z-replaced", Archive, "@root"},
		{"@snapshots", Other, ""},
		{"@snapshots/@home", Other, ""},
		{"@snapshots/@home/x/nested", Other, ""},
		{"@root-blank", Other, ""},
		{"@home/var/lib/machines", Other, ""},
		{"old_roots/@nix/20260101T000000Z-0a1b2c3d", Other, ""},
	} {
		role, group := classify(layout, tc.path)
		if role != tc.role || group != tc.group {
			t.Errorf("classify(%q) = %v, %q, want %v, %q", tc.path, role, group, tc.role, tc.group)
		}
	}
}

func TestPlan(t *testing.T) {
	home := Subvol{ID: 256, Path: "@home", UUID: uuid(1), OTransID: 5}
	blank := Subvol{ID: 257, Path: "@root-blank", UUID: uuid(2), OTransID: 6, ReadOnly: true}
	root := Subvol{ID: 258, Path: "@root", UUID: uuid(3), ParentUUID: uuid(2), OTransID: 7}
	snap := func(id, trans uint64, ro bool, parent byte) Subvol {
		return Subvol{ID: id, Path: "@snapshots/@home/s" + string(rune('0'+id%10)), UUID: uuid(byte(id)),
			ParentUUID: uuid(parent), OTransID: trans, ReadOnly: ro}
	}
	arch := func(id, trans uint64) Subvol {
		return Subvol{ID: id, Path: "old_roots/@root/a" + string(rune('0'+id%10)), UUID: uuid(byte(id)),
			ParentUUID: uuid(2), OTransID: trans}
	}
	s1, s2, s3, s4, s5 := snap(301, 10, true, 1), snap(302, 20, true, 1), snap(303, 30, false, 1), snap(304, 40, true, 1), snap(305, 50, true, 9)
	s6 := snap(306, 40, true, 1) // same transaction as s4
	a1, a2 := arch(401, 8), arch(402, 9)
	// Given in id order, as List returns them, s2 before s1 in id.
	got := Plan(layout, []Subvol{home, blank, root, s2, s1, s3, s4, s5, s6, a2, a1})
	want := []Walk{
		{Subvol: home, Role: Live, Group: "@home"},
		{Subvol: blank, Role: Other},
		{Subvol: root, Role: Live, Group: "@root"},
		// Creation order within a group, groups by name.
		{Subvol: s1, Role: Snapshot, Group: "@home"},
		{Subvol: s2, Role: Snapshot, Group: "@home", MinTrans: 10, From: 301},
		{Subvol: s3, Role: Snapshot, Group: "@home", MinTrans: 20, From: 302},
		// s3 is writable: s4 goes back to s2.
		{Subvol: s4, Role: Snapshot, Group: "@home", MinTrans: 20, From: 302},
		// Made in the same transaction as s4, its predecessor: whole.
		{Subvol: s6, Role: Snapshot, Group: "@home"},
		// Another source (a restored @home): whole.
		{Subvol: s5, Role: Snapshot, Group: "@home"},
		// Archives are read whole.
		{Subvol: a1, Role: Archive, Group: "@root"},
		{Subvol: a2, Role: Archive, Group: "@root"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Plan (-want +got):\n%s", diff)
	}
}
