package targetdir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
)

// A snapshot gets its backup's name only once its data is on disk: a power
// cut right after the move into place (before any later commit of the
// run) leaves it whole. btrfs receive writes the files through the page
// cache and commits only the received UUID and the read-only flag, and a
// transaction commit does not write dirty file data, so without the flush
// before the move the power cut leaves a read-only snapshot with the
// right received UUID, under its final name, whose files are empty.
func TestPlacedSnapshotSurvivesPowerCut(t *testing.T) {
	src, dst := btrfstest.New(t), btrfstest.New(t)
	sv := filepath.Join(src.Mount, "src")
	run(t, "btrfs", "subvolume", "create", sv)
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string][32]byte{}
	for i := range 8 {
		data := make([]byte, 1<<20)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		name := fmt.Sprintf("f%d", i)
		if err := os.WriteFile(filepath.Join(sv, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = sha256.Sum256(data)
	}
	snap := filepath.Join(src.Mount, snapA)
	run(t, "btrfs", "subvolume", "snapshot", "-r", sv, snap)
	info, err := Info(snap)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := exec.Command("btrfs", "send", "-q", snap).Output()
	if err != nil {
		t.Fatal(err)
	}
	d := Dir{Root: filepath.Join(dst.Mount, "backup")}
	if err := os.MkdirAll(d.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Receive(context.Background(), bytes.NewReader(stream),
		Want{Subvolume: "@persist", Name: snapA, UUID: info.UUID}); err != nil {
		t.Fatal(err)
	}

	cut := dst.PowerCut(t)
	got := filepath.Join(cut.Mount, "backup", "@persist", snapA)
	gi, err := Info(got)
	if err != nil {
		t.Fatalf("after the power cut the move into place is lost (it commits): %v", err)
	}
	if gi.ReceivedUUID != info.UUID || !gi.ReadOnly {
		t.Fatalf("after the power cut %s: received UUID %s, read-only %t; want %s, true", got, gi.ReceivedUUID, gi.ReadOnly, info.UUID)
	}
	for name, sum := range want {
		data, err := os.ReadFile(filepath.Join(got, name))
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(data) != sum {
			t.Errorf("after the power cut %s/%s has %d bytes, not the %d sent: a backup's name on data that was not on disk", got, name, len(data), 1<<20)
		}
	}
}
