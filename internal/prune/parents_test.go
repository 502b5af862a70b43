package prune

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

func TestKeepParents(t *testing.T) {
	p := Plan{Items: []Item{
		{Kind: KindSnapshot, Subvolume: "@persist", Path: "@snapshots/@persist/20261205T000000Z", Delete: true, Reason: "unselected"},
		{Kind: KindSnapshot, Subvolume: "@persist", Path: "@snapshots/@persist/20261204T000000Z", Delete: true, Reason: "unselected"},
		{Kind: KindSnapshot, Subvolume: "@var-log", Path: "@snapshots/@var-log/20261205T000000Z", Reason: "daily"},
		{Kind: KindArchive, Subvolume: "@persist", Path: "@snapshots/@persist/20261204T000000Z", Delete: true, Reason: "old"},
	}}
	KeepParents(&p, "@snapshots", map[string]targetstate.Record{
		"usb": {Subvolumes: map[string]targetstate.Subvolume{"@persist": {Parent: "20261205T000000Z"}, "@var-log": {Parent: "20261205T000000Z"}}},
		"b2":  {Subvolumes: map[string]targetstate.Subvolume{"@persist": {Parent: "20261205T000000Z"}}},
	})
	want := []Item{
		{Kind: KindSnapshot, Subvolume: "@persist", Path: "@snapshots/@persist/20261205T000000Z", Parent: []string{"b2", "usb"}, Reason: "replication parent of target b2, usb: the newest snapshot it also holds"},
		{Kind: KindSnapshot, Subvolume: "@persist", Path: "@snapshots/@persist/20261204T000000Z", Delete: true, Reason: "unselected"},
		{Kind: KindSnapshot, Subvolume: "@var-log", Path: "@snapshots/@var-log/20261205T000000Z", Parent: []string{"usb"}, Reason: "daily; replication parent of target usb: the newest snapshot it also holds"},
		{Kind: KindArchive, Subvolume: "@persist", Path: "@snapshots/@persist/20261204T000000Z", Delete: true, Reason: "old"},
	}
	if diff := cmp.Diff(want, p.Items); diff != "" {
		t.Errorf("KeepParents (-want +got):\n%s", diff)
	}
}
