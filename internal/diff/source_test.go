package diff_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/diff"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/provision"
)

func TestNewSource(t *testing.T) {
	sv := config.Subvolume{Name: "@rootfs", Blank: "@rootfs-blank"}
	blank := btrfs.Subvolume{ID: 256, Generation: 40, OTransID: 12, UUID: btrfs.UUID{0xb}}
	live := btrfs.Subvolume{ID: 300, Generation: 52, OTransID: 31, UUID: btrfs.UUID{0x1}, ParentUUID: blank.UUID}
	installed := btrfs.Subvolume{ID: 257, Generation: 60, OTransID: 7, UUID: btrfs.UUID{0x2}}
	captured := btrfs.Subvolume{ID: 301, Generation: 45, OTransID: 44, UUID: btrfs.UUID{0xc}, ParentUUID: installed.UUID}
	plain := btrfs.Subvolume{ID: 302, Generation: 20, OTransID: 20, UUID: btrfs.UUID{0xd}}
	for _, tc := range []struct {
		name        string
		sv          config.Subvolume
		live, blank btrfs.Subvolume
		want        diff.Source
		wantErr     bool
	}{
		// Since is the live subvolume's otransid, not the blank's
		// generation, which every later snapshot of the blank moves.
		{"reset from the blank", sv, live, blank, diff.Source{Live: live, Blank: blank, Since: 31}, false},
		{"blank captured from the live", sv, installed, captured,
			diff.Source{Live: installed, Blank: captured, Since: 44, Captured: true}, false},
		{"no blank", config.Subvolume{Name: "@var-cache"}, plain, btrfs.Subvolume{}, diff.Source{Live: plain}, false},
		{"blank from elsewhere", sv, installed, plain, diff.Source{}, true},
		{"blank captured from another", sv, live, captured, diff.Source{}, true},
		{"both without UUIDs", sv, btrfs.Subvolume{ID: 300}, btrfs.Subvolume{ID: 256}, diff.Source{}, true},
	} {
		got, err := diff.NewSource(tc.sv, tc.live, tc.blank)
		if tc.wantErr {
			if !errors.Is(err, diff.ErrNotFromBlank) {
				t.Errorf("%s: NewSource = %+v, %v, want ErrNotFromBlank", tc.name, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: NewSource: %v", tc.name, err)
		} else if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: NewSource (-want +got):\n%s", tc.name, d)
		}
	}
}

// TestDiffBlankCapturedFromLive is a server right after provision
// --blank-from (docs/quickstart.md, steps 4 and 7): the blank is a read-only
// snapshot of the live root, taken after the root was filled and before the
// changes that the next boot will erase. The root is the installer's plain
// subvolume (first conversion) or one reset from an older blank (re-capture
// after an upgrade).
func TestDiffBlankCapturedFromLive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fresh bool
	}{{"installed root", true}, {"re-captured", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testBlankCapturedFromLive(t, tc.fresh)
		})
	}
}

func testBlankCapturedFromLive(t *testing.T, fresh bool) {
	l, fsys := layout(t)
	top := l.FS.Mount
	if _, err := fsys.DeleteRecursive("@root-blank"); err != nil {
		t.Fatal(err)
	}
	if fresh {
		if _, err := fsys.DeleteRecursive("@root"); err != nil {
			t.Fatal(err)
		}
		must(t, fsys.CreateSubvolume("@root"))
	}
	root := filepath.Join(top, "@root")
	files(t, root, map[string]string{
		"etc/hostname": "installed\n", "etc/motd": "hello\n", "etc/keep": "same", "usr/bin/tool": "bin",
		"gone/a": "aa", "gone/b/c": "ccc", "srv/data/f": "x", "var/lib/": "", "tmp/": "",
	})
	// Capture the blank from the live root, as docs/quickstart.md says.
	var out, errb bytes.Buffer
	if code := provision.Run(context.Background(), []string{"--default", "--mount", top, "--blank-from", "@root"},
		job.Env{Stdout: &out, Stderr: &errb, Root: t.TempDir()}); code != job.ExitOK {
		t.Fatalf("provision --blank-from @root: exit %d\n%s%s", code, &out, &errb)
	}
	if b, err := fsys.Info("@root-blank"); err != nil || !b.ReadOnly {
		t.Fatalf("@root-blank after provision --blank-from = %+v, %v; want a read-only snapshot of @root", b, err)
	}

	// What the next boot will erase.
	files(t, root, map[string]string{
		"etc/hostname":                 "server-1\n",
		"etc/new.conf":                 "12345",
		"home/u/notes":                 "abc",
		"etc/ssh/ssh_host_ed25519_key": "secret", // persisted
		"tmp/scratch":                  "x",      // /tmp
	})
	must(t, os.Remove(filepath.Join(root, "etc/motd")))
	must(t, os.RemoveAll(filepath.Join(root, "gone")))
	must(t, os.Symlink("hostname", filepath.Join(root, "etc/link")))
	must(t, os.Chmod(filepath.Join(root, "srv/data"), 0o700))
	must(t, fsys.CreateSubvolume("@root/var/lib/machines"))
	if _, err := os.ReadFile(filepath.Join(root, "usr/bin/tool")); err != nil { // atime only
		t.Fatal(err)
	}

	if code := diff.Run(context.Background(), l.Args("--no-orphans", "@root"), l.Env); code != 0 {
		t.Fatalf("diff: exit %d\n%s", code, l.Err)
	}
	golden(t, "testdata/captured.golden", l.Out.String())

	r := jsonReport(t, l, "--no-orphans", "@root").Subvolumes[0]
	blank, _ := fsys.Info("@root-blank")
	if !r.CapturedFromLive || r.Since != blank.OTransID {
		t.Errorf("--json: blank_captured_from_live %t, since_generation %d; want true, %d (the blank's otransid)",
			r.CapturedFromLive, r.Since, blank.OTransID)
	}
	want := []diff.Entry{
		{Path: "/etc/hostname", Status: diff.Changed, Type: "file", Size: 9},
		{Path: "/etc/link", Status: diff.Added, Type: "symlink", Size: 8},
		{Path: "/etc/motd", Status: diff.Removed, Type: "file", Size: 6},
		{Path: "/etc/new.conf", Status: diff.Added, Type: "file", Size: 5},
		{Path: "/gone", Status: diff.Removed, Type: "dir"},
		{Path: "/gone/a", Status: diff.Removed, Type: "file", Size: 2},
		{Path: "/gone/b", Status: diff.Removed, Type: "dir"},
		{Path: "/gone/b/c", Status: diff.Removed, Type: "file", Size: 3},
		{Path: "/home", Status: diff.Added, Type: "dir"},
		{Path: "/home/u", Status: diff.Added, Type: "dir"},
		{Path: "/home/u/notes", Status: diff.Added, Type: "file", Size: 3},
		{Path: "/srv/data", Status: diff.Changed, Type: "dir"},
		{Path: "/var/lib/machines", Status: diff.Added, Type: "subvolume"},
	}
	if d := cmp.Diff(want, r.Entries); d != "" {
		t.Errorf("diff @root with a blank captured from it (-want +got):\n%s", d)
	}
}

// TestDiffBlankSnapshottedAgain: a snapshot of the blank taken after the
// boot moves the blank's generation past changes the live root made before
// it; they are still listed.
func TestDiffBlankSnapshottedAgain(t *testing.T) {
	t.Parallel()
	l, fsys := layout(t)
	root := filepath.Join(l.FS.Mount, "@root")
	files(t, root, map[string]string{"srv/before": "1"})
	must(t, fsys.Commit())
	must(t, fsys.Snapshot("@root-blank", "@copy-of-blank", true))
	files(t, root, map[string]string{"srv/after": "22"})

	rep := jsonReport(t, l, "--no-orphans", "@root")
	want := []diff.Entry{
		{Path: "/srv", Status: diff.Added, Type: "dir"},
		{Path: "/srv/after", Status: diff.Added, Type: "file", Size: 2},
		{Path: "/srv/before", Status: diff.Added, Type: "file", Size: 1},
	}
	if r := rep.Subvolumes[0]; r.CapturedFromLive || !cmp.Equal(want, r.Entries) {
		t.Errorf("diff @root = captured %t, %+v; want false, %+v", r.CapturedFromLive, r.Entries, want)
	}
}

// TestDiffRefusesUnrelatedBlank: a blank that is neither the live root's
// origin nor a snapshot of it (here: captured from another subvolume) gives
// no comparison.
func TestDiffRefusesUnrelatedBlank(t *testing.T) {
	t.Parallel()
	l, fsys := layout(t)
	if _, err := fsys.DeleteRecursive("@root-blank"); err != nil {
		t.Fatal(err)
	}
	must(t, fsys.CreateSubvolume("@installed"))
	must(t, fsys.Snapshot("@installed", "@root-blank", true))

	if code := diff.Run(context.Background(), l.Args("@root"), l.Env); code != 1 {
		t.Fatalf("diff @root: exit %d, want 1\n%s", code, l.Out)
	}
	want := ": the live subvolume is not a snapshot of its blank; the comparison needs the blank it was reset from (was the blank re-captured since the last boot?)"
	if got := l.Err.String(); !strings.HasPrefix(got, "impermanence-diff: @root (parent ") || !strings.Contains(got, want) {
		t.Errorf("stderr = %q, want the refusal %q", got, want)
	}
}
