package send

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
)

// restoreFrom runs impermanence-restore --from-target usb on the source.
func (r *rig) restoreFrom(t *testing.T, want int, snap string, extra ...string) string {
	t.Helper()
	r.src.Reset()
	args := append([]string{"--config", r.config, "--mount", r.src.FS.Mount, "--from-target", "usb", "--from", snap}, append(extra, "@persist")...)
	if code := restore.Run(context.Background(), args, r.src.Env); code != want {
		t.Fatalf("restore %v: exit %d, want %d\n%s%s", args, code, want, r.src.Out, r.src.Err)
	}
	return r.src.Out.String()
}

// deleteSnapshots deletes snapshots of @persist on the source.
func (r *rig) deleteSnapshots(t *testing.T, snaps ...string) {
	t.Helper()
	for _, s := range snaps {
		if out, err := exec.Command("btrfs", "subvolume", "delete", filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s)).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
}

// subvolUUID returns the subvolume UUID of p.
func subvolUUID(t *testing.T, p string) string {
	t.Helper()
	info, err := targetdir.Info(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.UUID.String()
}

// impermanence-restore --from-target from a local btrfs target: the
// snapshot comes back incrementally from a snapshot both sides still hold
// (matched by UUID), in full when the server holds none; the dry run says
// which and changes nothing; the fetched snapshot is read-only with the
// source's UUID as its received UUID, the restore swaps it in, and the
// scratch subvolume is gone.
func TestRestoreFromBtrfsTarget(t *testing.T) {
	r := newRig(t, "{ keep_min = 100 }")
	var snaps []string
	uuids := map[string]string{}
	for i := range 3 {
		s := r.snapshot(t, map[string][]byte{fmt.Sprintf("f%d", i): random(256<<10, uint64(70+i)), "etc/conf": []byte(fmt.Sprint("v", i))})
		snaps = append(snaps, s)
		uuids[s] = subvolUUID(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s))
		r.send(t, 0)
	}
	want := map[string]map[string]string{}
	for _, s := range snaps {
		want[s] = tree(t, filepath.Join(r.src.FS.Mount, "@snapshots/@persist", s))
	}
	r.deleteSnapshots(t, snaps[1], snaps[2])
	os.WriteFile(filepath.Join(r.src.FS.Mount, "@persist/etc/conf"), []byte("broken"), 0o644)
	snapDir := filepath.Join(r.src.FS.Mount, "@snapshots/@persist")

	for _, tc := range []struct {
		name, snap, fetch string
		delete            []string
	}{
		{name: "incremental", snap: snaps[2],
			fetch: "fetch @snapshots/@persist/" + snaps[2] + " from usb (incremental from " + snaps[0] + ", which this server holds as @snapshots/@persist/" + snaps[0] + ": the newest older snapshot both sides hold)\n"},
		{name: "backfill", snap: snaps[1],
			fetch:  "fetch @snapshots/@persist/" + snaps[1] + " from usb (incremental from " + snaps[2] + ", which this server holds as @snapshots/@persist/" + snaps[2] + ": no older snapshot both sides hold; the oldest newer one)\n",
			delete: []string{snaps[0]}},
		{name: "full", snap: snaps[0],
			fetch:  "fetch @snapshots/@persist/" + snaps[0] + " from usb (full: the server holds no snapshot of this subvolume the target holds)\n",
			delete: []string{snaps[1], snaps[2]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.deleteSnapshots(t, tc.delete...)
			before := dirNames(t, snapDir)
			if got := r.restoreFrom(t, 0, tc.snap, "--dry-run"); got != "would "+tc.fetch {
				t.Errorf("dry run:\n%s\nwant\nwould %s", got, tc.fetch)
			}
			if got := dirNames(t, snapDir); !equalStrings(got, before) {
				t.Errorf("the dry run changed the snapshots directory: %v, was %v", got, before)
			}
			out := r.restoreFrom(t, 0, tc.snap)
			if !strings.HasPrefix(out, tc.fetch) {
				t.Errorf("output:\n%s\nwant first\n%s", out, tc.fetch)
			}
			info, err := targetdir.Info(filepath.Join(snapDir, tc.snap))
			if err != nil || !info.ReadOnly || info.ReceivedUUID.String() != uuids[tc.snap] {
				t.Errorf("fetched %s: %+v, %v; want read-only, received UUID %s", tc.snap, info, err, uuids[tc.snap])
			}
			if got := tree(t, filepath.Join(r.src.FS.Mount, "@persist")); !mapsEqual(got, want[tc.snap]) {
				t.Errorf("@persist after the restore differs from %s: %d files, want %d", tc.snap, len(got), len(want[tc.snap]))
			}
			if _, err := os.Lstat(filepath.Join(r.src.FS.Mount, ".from-target-usb")); !os.IsNotExist(err) {
				t.Errorf("the scratch subvolume is left: %v", err)
			}
			// The snapshot is there now: a second run fetches nothing.
			if got := r.restoreFrom(t, 0, tc.snap, "--dry-run"); !strings.HasPrefix(got, "@snapshots/@persist/"+tc.snap+" is in the snapshots directory: nothing fetched from usb\n") {
				t.Errorf("dry run after the fetch:\n%s", got)
			}
		})
	}
	evs, err := audit.Read(r.src.Env.AuditPath())
	if err != nil {
		t.Fatal(err)
	}
	fetches := 0
	for _, e := range evs {
		if e.Action == "restore-fetch" && e.Result == audit.ResultSuccess && strings.HasPrefix(e.Path, r.root+"/@persist/") {
			fetches++
		}
	}
	if fetches != 3 {
		t.Errorf("%d restore-fetch events, want 3:\n%+v", fetches, evs)
	}
	// Without --mount, as on a server: the job's top level is a detached
	// mount, which btrfs receive cannot resolve itself (it runs in a mount
	// namespace of its own). The server holds the fetched snaps[0].
	r.src.Reset()
	args := []string{"--config", r.config, "--device", r.src.FS.Device, "--from-target", "usb", "--from", snaps[2], "@persist"}
	if code := restore.Run(context.Background(), args, r.src.Env); code != 0 {
		t.Fatalf("restore without --mount: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	if out := r.src.Out.String(); !strings.HasPrefix(out, "fetch @snapshots/@persist/"+snaps[2]+" from usb (incremental from "+snaps[0]+",") {
		t.Errorf("restore without --mount:\n%s", out)
	}
	if got := tree(t, filepath.Join(r.src.FS.Mount, "@persist")); !mapsEqual(got, want[snaps[2]]) {
		t.Errorf("@persist after the restore without --mount differs from %s", snaps[2])
	}
	// Refusals: nothing fetched, nothing changed.
	for _, tc := range []struct{ snap, msg string }{
		{"20300101T000000Z", "the target holds no snapshot 20300101T000000Z (it holds "},
		{"../x", "--from-target takes a snapshot name, not a path"},
		{"not-a-snapshot", `"not-a-snapshot" is not a snapshot name`},
	} {
		out := r.restoreFrom(t, 1, tc.snap)
		if !strings.Contains(r.src.Err.String(), tc.msg) {
			t.Errorf("restore --from %s: %s, want %q", tc.snap, r.src.Err, tc.msg)
		}
		// a refused fetch prints no fetch line (it read "fetch … (full: )")
		if out != "" {
			t.Errorf("restore --from %s (refused): output %q, want none", tc.snap, out)
		}
	}
	r.src.Reset()
	args = []string{"--config", r.config, "--mount", r.src.FS.Mount, "--from-target", "usb", "--identity", "/k", "--from", snaps[0], "@persist"}
	if code := restore.Run(context.Background(), args, r.src.Env); code != 1 || !strings.Contains(r.src.Err.String(), "usb is a btrfs target") {
		t.Errorf("--identity with a btrfs target: exit %d, %s", code, r.src.Err)
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// A fetch killed with SIGKILL at any point leaves nothing in the snapshots
// directory that looks like a snapshot but is not a whole one (either no
// entry, or the read-only received copy with every file); the next run
// removes the scratch subvolume and completes.
func TestRestoreFromBtrfsTargetSIGKILL(t *testing.T) {
	if os.Getenv("RESTORE_TEST_CHILD") != "" {
		t.Skip("child")
	}
	r := newRig(t, "{ keep_min = 100 }")
	base := r.snapshot(t, map[string][]byte{"base": random(1<<20, 11)})
	r.send(t, 0)
	const kills = 6
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	snapDir := filepath.Join(r.src.FS.Mount, "@snapshots/@persist")
	scratchLeft := 0
	for i := range kills {
		s := r.snapshot(t, map[string][]byte{fmt.Sprintf("big%d", i): random(24<<20, uint64(200+i))})
		r.send(t, 0)
		uuid := subvolUUID(t, filepath.Join(snapDir, s))
		want := tree(t, filepath.Join(snapDir, s))
		r.deleteSnapshots(t, s)
		args := []string{"--config", r.config, "--mount", r.src.FS.Mount, "--from-target", "usb", "--from", s, "--next-boot", "@persist"}
		cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreChild$")
		env, _ := json.Marshal(args)
		cmd.Env = append(os.Environ(), "RESTORE_TEST_CHILD="+string(env), "RESTORE_TEST_ROOT="+r.src.Env.Root)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		for _, name := range dirNames(t, snapDir) {
			p := filepath.Join(snapDir, name)
			if name != s {
				continue
			}
			info, err := targetdir.Info(p)
			if err != nil || !info.ReadOnly || info.ReceivedUUID.String() != uuid || !mapsEqual(tree(t, p), want) {
				t.Fatalf("kill %d: %s after SIGKILL: %+v %v; want no entry or the whole read-only copy", i, p, info, err)
			}
		}
		if _, err := os.Lstat(filepath.Join(r.src.FS.Mount, ".from-target-usb")); err == nil {
			scratchLeft++
		}
		// The next run completes (waiting for nothing: the killed one's
		// btrfs send and receive died with it).
		r.restoreFrom(t, 0, s, "--next-boot")
		if _, err := os.Lstat(filepath.Join(r.src.FS.Mount, ".from-target-usb")); !os.IsNotExist(err) {
			t.Errorf("kill %d: the scratch subvolume is left after the next run: %v", i, err)
		}
		if got := tree(t, filepath.Join(snapDir, s)); !mapsEqual(got, want) {
			t.Errorf("kill %d: %s after the next run differs from the source snapshot", i, s)
		}
		r.src.Reset()
		if code := restore.Run(context.Background(), []string{"--config", r.config, "--mount", r.src.FS.Mount, "--cancel", "@persist"}, r.src.Env); code != 0 {
			t.Fatalf("cancel: exit %d\n%s", code, r.src.Err)
		}
	}
	if got := dirNames(t, snapDir); len(got) != kills+1 || got[0] != base {
		t.Errorf("snapshots after the kills: %v", got)
	}
	t.Logf("%d of %d kills left the scratch subvolume", scratchLeft, kills)
}

// TestRestoreChild is the killed process of TestRestoreFromBtrfsTargetSIGKILL.
func TestRestoreChild(t *testing.T) {
	argsJSON := os.Getenv("RESTORE_TEST_CHILD")
	if argsJSON == "" {
		t.Skip("run by TestRestoreFromBtrfsTargetSIGKILL")
	}
	var args []string
	json.Unmarshal([]byte(argsJSON), &args)
	env := job.Env{Root: os.Getenv("RESTORE_TEST_ROOT"), Journal: func() bool { return false }}
	os.Exit(restore.Run(context.Background(), args, env))
}
