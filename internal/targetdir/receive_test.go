package targetdir

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

// rig is one btrfs with a source subvolume, two read-only snapshots of it
// and a target root.
type rig struct {
	fs     *btrfstest.FS
	snaps  string
	dir    Dir
	uuids  map[string]btrfs.UUID
	stream map[string][]byte // "a" full, "b" incremental from a
}

const (
	snapA = "20261206T100000Z"
	snapB = "20261206T110000Z"
)

func newRig(t *testing.T) *rig {
	r := &rig{fs: btrfstest.New(t), uuids: map[string]btrfs.UUID{}, stream: map[string][]byte{}}
	m := r.fs.Mount
	r.snaps = filepath.Join(m, "snaps")
	r.dir = Dir{Root: filepath.Join(m, "backup")}
	run(t, "btrfs", "subvolume", "create", filepath.Join(m, "src"))
	os.MkdirAll(r.snaps, 0o755)
	os.MkdirAll(r.dir.Root, 0o755)
	os.WriteFile(filepath.Join(m, "src", "a"), []byte("first"), 0o644)
	run(t, "btrfs", "subvolume", "snapshot", "-r", filepath.Join(m, "src"), filepath.Join(r.snaps, snapA))
	os.WriteFile(filepath.Join(m, "src", "b"), []byte("second"), 0o644)
	run(t, "btrfs", "subvolume", "snapshot", "-r", filepath.Join(m, "src"), filepath.Join(r.snaps, snapB))
	for _, n := range []string{snapA, snapB} {
		info, err := Info(filepath.Join(r.snaps, n))
		if err != nil {
			t.Fatal(err)
		}
		r.uuids[n] = info.UUID
	}
	r.stream[snapA] = output(t, "btrfs", "send", "-q", filepath.Join(r.snaps, snapA))
	r.stream[snapB] = output(t, "btrfs", "send", "-q", "-p", filepath.Join(r.snaps, snapA), filepath.Join(r.snaps, snapB))
	return r
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func output(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return out
}

func (r *rig) receive(name string, stream []byte, parents []btrfs.UUID) (int64, error) {
	return r.dir.Receive(context.Background(), bytes.NewReader(stream),
		Want{Subvolume: "@persist", Name: name, UUID: r.uuids[name], Parents: parents})
}

// incoming lists what is left below .incoming.
func (r *rig) incoming(t *testing.T) []string {
	var out []string
	filepath.WalkDir(filepath.Join(r.dir.Root, Incoming), func(p string, d os.DirEntry, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(filepath.Join(r.dir.Root, Incoming), p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func (r *rig) held(t *testing.T) []replicate.Held {
	t.Helper()
	h, err := r.dir.List("@persist")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestReceive(t *testing.T) {
	r := newRig(t)
	// A stream cut just before its end command: btrfs receive -e refuses
	// it too on this version, the framing check on every one.
	for _, bad := range []struct {
		name   string
		stream []byte
		want   string
	}{
		{"cut before the end", r.stream[snapA][:len(r.stream[snapA])-cmdHeaderLen], ErrTruncated.Error()},
		{"cut in the middle", r.stream[snapA][:len(r.stream[snapA])/2], ErrTruncated.Error()},
		{"two streams", append(append([]byte{}, r.stream[snapA]...), r.stream[snapA]...), ErrTrailing.Error()},
		{"garbage", []byte("not a stream at all, not at all"), ErrNotStream.Error()},
	} {
		_, err := r.receive(snapA, bad.stream, nil)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.name, err, bad.want)
		}
		if h := r.held(t); len(h) != 0 {
			t.Fatalf("%s: the target holds %v", bad.name, h)
		}
		if left := r.incoming(t); !slices.Equal(left, []string{".", "@persist"}) {
			t.Errorf("%s: left below .incoming: %v", bad.name, left)
		}
	}
	// The received UUID must be the one asked for.
	_, err := r.dir.Receive(context.Background(), bytes.NewReader(r.stream[snapA]),
		Want{Subvolume: "@persist", Name: snapA, UUID: r.uuids[snapB]})
	if err == nil || !strings.Contains(err.Error(), "has received UUID") {
		t.Errorf("wrong UUID: %v", err)
	}
	// The stream names its subvolume: asking for another name fails.
	_, err = r.dir.Receive(context.Background(), bytes.NewReader(r.stream[snapA]),
		Want{Subvolume: "@persist", Name: snapB, UUID: r.uuids[snapA]})
	if err == nil || !strings.Contains(err.Error(), "want the one subvolume") {
		t.Errorf("wrong name: %v", err)
	}

	n, err := r.receive(snapA, r.stream[snapA], nil)
	if err != nil || n != int64(len(r.stream[snapA])) {
		t.Fatalf("full: %d bytes, %v; want %d", n, err, len(r.stream[snapA]))
	}
	if _, err := r.receive(snapA, r.stream[snapA], nil); !errors.Is(err, ErrExists) {
		t.Errorf("again: %v, want ErrExists", err)
	}
	// An incremental applied to a parent that is not among the allowed.
	if _, err := r.receive(snapB, r.stream[snapB], []btrfs.UUID{}); err == nil || !strings.Contains(err.Error(), "is not one of @persist's snapshots") {
		t.Errorf("foreign parent: %v", err)
	}
	a, _ := Info(r.dir.Path("@persist", snapA))
	if _, err := r.receive(snapB, r.stream[snapB], []btrfs.UUID{a.UUID}); err != nil {
		t.Fatalf("incremental: %v", err)
	}
	want := []replicate.Held{{Name: snapA, ReceivedUUID: r.uuids[snapA].String()}, {Name: snapB, ReceivedUUID: r.uuids[snapB].String()}}
	if h := r.held(t); !slices.Equal(h, want) {
		t.Errorf("held %v, want %v", h, want)
	}
	if b, err := os.ReadFile(filepath.Join(r.dir.Path("@persist", snapB), "b")); err != nil || string(b) != "second" {
		t.Errorf("received file: %q, %v", b, err)
	}
	if left := r.incoming(t); !slices.Equal(left, []string{".", "@persist"}) {
		t.Errorf("left below .incoming: %v", left)
	}

	// Debris of a killed run: a half-received subvolume and a file.
	debris := filepath.Join(r.dir.Root, Incoming, "@persist", "20261206T120000Z")
	os.MkdirAll(debris, 0o700)
	run(t, "btrfs", "subvolume", "create", filepath.Join(debris, "20261206T120000Z"))
	os.WriteFile(filepath.Join(r.dir.Root, Incoming, "stray"), nil, 0o600)
	removed, err := r.dir.Clean()
	if err != nil || !slices.Equal(removed, []string{"@persist/20261206T120000Z/20261206T120000Z", "stray"}) {
		t.Errorf("Clean = %v, %v", removed, err)
	}
	if left := r.incoming(t); !slices.Equal(left, []string{"."}) {
		t.Errorf("after Clean: %v", left)
	}
}

// TestReceiveThroughDetachedTopLevel receives into a directory reached
// through a detached top-level mount (btrfs.MountTopLevel), as a restore's
// fetch on a server without --mount does: btrfs receive cannot resolve that
// path itself ("realpath(/proc/<pid>/fd/<n>/…) failed", found by the VM
// tier), so it runs in a mount namespace of its own with the top level
// mounted again there. A full and an incremental stream arrive checked;
// no mount of the top level is left in this namespace, nor the mount point.
func TestReceiveThroughDetachedTopLevel(t *testing.T) {
	r := newRig(t)
	top, unmount, err := btrfs.MountTopLevel(r.fs.Device, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unmount()
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "impermanence-receive-*"))
	r.dir = Dir{Root: filepath.Join(top, "backup")}
	if _, err := r.receive(snapA, r.stream[snapA], nil); err != nil {
		t.Fatalf("full: %v", err)
	}
	a, err := Info(r.dir.Path("@persist", snapA))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.receive(snapB, r.stream[snapB], []btrfs.UUID{a.UUID}); err != nil {
		t.Fatalf("incremental: %v", err)
	}
	var got []string
	for _, h := range r.held(t) {
		got = append(got, h.Name+" "+h.ReceivedUUID)
	}
	if want := []string{snapA + " " + r.uuids[snapA].String(), snapB + " " + r.uuids[snapB].String()}; !slices.Equal(got, want) {
		t.Errorf("held %v, want %v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(r.fs.Mount, "backup/@persist", snapB, "b")); err != nil || string(b) != "second" {
		t.Errorf("received %s/b = %q, %v", snapB, b, err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if n := strings.Count(string(mounts), "impermanence-receive-"); n != 0 {
		t.Errorf("%d mounts of btrfs receive's top level left in this namespace:\n%s", n, mounts)
	}
	if after, _ := filepath.Glob(filepath.Join(os.TempDir(), "impermanence-receive-*")); len(after) != len(before) {
		t.Errorf("mount points left: %v (before: %v)", after, before)
	}
}
