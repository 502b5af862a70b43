package btrfs

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeRootItem(t *testing.T) {
	item := func(size int, gen, genV2 uint64) []byte {
		b := make([]byte, size)
		le.PutUint64(b[rootItemGeneration:], gen)
		le.PutUint64(b[rootItemFlags:], rootSubvolReadOnly)
		if size >= rootItemSize {
			le.PutUint64(b[rootItemGenerationV2:], genV2)
			b[rootItemUUID], b[rootItemParentUUID] = 0xaa, 0xbb
			le.PutUint64(b[rootItemOTransID:], 7)
			le.PutUint64(b[rootItemOTime:], 1764103223)
			le.PutUint32(b[rootItemOTime+8:], 500)
		}
		return b
	}
	v2 := Subvolume{ID: 300, Generation: 9, OTransID: 7, ReadOnly: true, UUID: UUID{0xaa}, ParentUUID: UUID{0xbb},
		OTime: time.Date(2025, 11, 25, 20, 40, 23, 500, time.UTC)}
	for _, tc := range []struct {
		name string
		in   []byte
		want Subvolume
	}{
		{"v2", item(rootItemSize, 9, 9), v2},
		{"v2 written by an old kernel", item(rootItemSize, 9, 8), Subvolume{ID: 300, Generation: 9, ReadOnly: true}},
		{"v1", item(239, 9, 0), Subvolume{ID: 300, Generation: 9, ReadOnly: true}},
	} {
		got, err := decodeRootItem(300, tc.in)
		if err != nil {
			t.Errorf("%s: decodeRootItem: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: decodeRootItem (-want +got):\n%s", tc.name, diff)
		}
	}
	if got, err := decodeRootItem(300, make([]byte, 100)); err == nil {
		t.Errorf("decodeRootItem(100 bytes) = %+v, want an error", got)
	}
}

func TestDecodeRootRef(t *testing.T) {
	b := append(make([]byte, 18), "20261125T204023Z"...)
	le.PutUint64(b, 258)
	le.PutUint16(b[16:], 16)
	dir, name, err := decodeRootRef(b)
	if dir != 258 || string(name) != "20261125T204023Z" || err != nil {
		t.Errorf("decodeRootRef = %d, %q, %v, want 258, 20261125T204023Z", dir, name, err)
	}
	if _, _, err := decodeRootRef(b[:25]); err == nil {
		t.Errorf("decodeRootRef(truncated name) succeeded, want an error")
	}
}

func TestUUIDString(t *testing.T) {
	u := UUID{0xf8, 0x48, 0x45, 0x6a, 0x60, 0x07, 0x97, 0x40, 0x9a, 0x68, 0x10, 0xc8, 0x75, 0x6d, 0x3e, 0x20}
	if got, want := u.String(), "f848456a-6007-9740-9a68-10c8756d3e20"; got != want {
		t.Errorf("UUID.String() = %q, want %q", got, want)
	}
	if !(UUID{}).IsZero() || u.IsZero() {
		t.Errorf("IsZero wrong")
	}
}
