package btrfs

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// Test helpers shared with the real-kernel tests of package btrfs_test.

// ParseProgsUsage returns the "Overall" byte figures of `btrfs filesystem
// usage -b` that Usage also reports, keyed by their label.
func ParseProgsUsage(tb testing.TB, out string) map[string]uint64 {
	tb.Helper()
	want := map[string]bool{"Device size": true, "Device allocated": true, "Device unallocated": true,
		"Used": true, "Free (estimated)": true, "Global reserve": true}
	m := map[string]uint64{}
	for line := range strings.Lines(out) {
		label, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !want[label] {
			continue
		}
		v, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
		if err != nil {
			tb.Fatalf("btrfs filesystem usage -b: %q: %v", line, err)
		}
		m[label] = v
	}
	if len(m) != len(want) {
		tb.Fatalf("btrfs filesystem usage -b: found %v in:\n%s", m, out)
	}
	return m
}

// ProgsView returns u's figures under the labels of ParseProgsUsage.
func ProgsView(u Usage) map[string]uint64 {
	return map[string]uint64{
		"Device size":        u.Size,
		"Device allocated":   u.Allocated,
		"Device unallocated": u.Unallocated,
		"Used":               u.Used,
		"Free (estimated)":   u.FreeEstimate,
		"Global reserve":     u.GlobalReserve,
	}
}

// ForceOpenatFallback makes fs resolve paths with openat one component at a
// time, as it does when a seccomp filter refuses openat2.
func ForceOpenatFallback(fs *FS) { fs.noOpenat2.Store(true) }

// RootItemRefs returns the refs of subvolume id's ROOT_ITEM (0 once it is
// deleted), and false when the cleaner has removed the item.
func RootItemRefs(fs *FS, id uint64) (refs uint32, found bool, err error) {
	err = fs.search(rootTreeID, key{id, rootItemKey, 0}, key{id, rootItemKey, math.MaxUint64}, func(_ key, data []byte) error {
		if len(data) >= rootItemRefs+4 {
			refs, found = le.Uint32(data[rootItemRefs:]), true
		}
		return nil
	})
	return refs, found, err
}
