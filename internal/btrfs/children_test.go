package btrfs

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The filter of Children over root tree items in key order: which
// subvolumes count as entries of the directories asked for.
func TestChildrenFilter(t *testing.T) {
	const tree, dir, other = 5, 300, 301 // the directories: inode 300 (and 301) of the top level
	rootItem := func(refs uint32, readOnly bool, received byte) []byte {
		b := make([]byte, rootItemSize)
		le.PutUint64(b[rootItemGeneration:], 9)
		le.PutUint64(b[rootItemGenerationV2:], 9)
		if readOnly {
			le.PutUint64(b[rootItemFlags:], rootSubvolReadOnly)
		}
		le.PutUint32(b[rootItemRefs:], refs)
		b[rootItemReceivedUUID] = received
		return b
	}
	rootRef := func(dir uint64, name string) []byte {
		b := make([]byte, 18+len(name))
		le.PutUint64(b, dir)
		le.PutUint16(b[16:], uint16(len(name)))
		copy(b[18:], name)
		return b
	}
	type item struct {
		k    key
		data []byte
	}
	live := rootItem(1, true, 0xaa)
	items := func(id uint64, root []byte, backrefs ...item) []item {
		return append([]item{{key{id, rootItemKey, 0}, root}}, backrefs...)
	}
	backref := func(id, parent, dir uint64, name string) item {
		return item{key{id, rootBackrefKey, parent}, rootRef(dir, name)}
	}
	for _, tc := range []struct {
		name  string
		items []item
		want  []string // names found in dir (and, after "|", in other)
	}{
		{"received read-only", items(256, live, backref(256, tree, dir, "a")), []string{"a"}},
		{"writable and not received: listed, the caller judges", items(256, rootItem(1, false, 0), backref(256, tree, dir, "w")), []string{"w"}},
		{"in another directory of the same subvolume", items(256, live, backref(256, tree, 999, "a")), nil},
		{"in the same inode number of another subvolume", items(256, live, backref(256, 257, dir, "a")), nil},
		{"deleted, waiting for the cleaner: refs 0", items(256, rootItem(0, true, 0xaa), backref(256, tree, dir, "gone")), nil},
		{"deleted: no backref left", items(256, live), nil},
		{"a backref without its root item", []item{backref(256, tree, dir, "a")}, nil},
		{"a backref after another subvolume's root item", append(items(256, live), backref(257, tree, dir, "b")), nil},
		{"ROOT_REF items of the range are skipped",
			append(items(256, live, backref(256, tree, dir, "a")), item{key{256, rootRefKey, 260}, rootRef(dir, "x")}), []string{"a"}},
		{"two directories at once", append(items(256, live, backref(256, tree, dir, "a")),
			append(items(257, live, backref(257, tree, other, "b")), items(258, live, backref(258, tree, dir, "c"))...)...),
			[]string{"a", "c", "|", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := make([][]Child, 2)
			c := &children{want: map[[2]uint64][]int{{tree, dir}: {0}, {tree, other}: {1}}, out: out}
			for _, it := range tc.items {
				if err := c.add(it.k, it.data); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for i, o := range out {
				if i > 0 && len(o) > 0 {
					got = append(got, "|")
				}
				for _, ch := range o {
					got = append(got, ch.Name)
					if ch.ParentID != tree {
						t.Errorf("%s: parent %d, want %d", ch.Name, ch.ParentID, tree)
					}
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("found (-want +got):\n%s", diff)
			}
		})
	}
	// What a child carries: the flags and UUIDs of its ROOT_ITEM.
	c := &children{want: map[[2]uint64][]int{{tree, dir}: {0}}, out: make([][]Child, 1)}
	c.add(key{256, rootItemKey, 0}, live)
	c.add(key{256, rootBackrefKey, tree}, rootRef(dir, "a"))
	want := Child{Name: "a", Subvolume: Subvolume{ID: 256, ParentID: tree, Generation: 9, ReadOnly: true, ReceivedUUID: UUID{0xaa}, OTime: time.Unix(0, 0).UTC()}}
	if diff := cmp.Diff([]Child{want}, c.out[0]); diff != "" {
		t.Errorf("child (-want +got):\n%s", diff)
	}
	// A truncated backref is an error, not a silent skip.
	if err := c.add(key{257, rootItemKey, 0}, live); err != nil {
		t.Fatal(err)
	}
	if err := c.add(key{257, rootBackrefKey, tree}, binary.LittleEndian.AppendUint64(nil, dir)); err == nil {
		t.Error("truncated backref: no error")
	}
}
