package rollback

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/configsum"
)

func TestBuildRecognisesInterruptedStates(t *testing.T) {
	cfg := config.Default()
	now := time.Date(2026, 11, 25, 20, 40, 23, 0, time.UTC)
	sv := func(id uint64, p string) btrfs.Subvolume { return btrfs.Subvolume{ID: id, Path: p} }
	base := map[string]btrfs.Subvolume{"@root-blank": {ID: 256, Path: "@root-blank", ReadOnly: true},
		"@var-cache": sv(300, "@var-cache"), "@var-tmp": sv(301, "@var-tmp")}
	for _, tc := range []struct {
		name  string
		extra []btrfs.Subvolume
		want  []string // first steps for @root
	}{
		{"normal", []btrfs.Subvolume{sv(257, "@root")},
			[]string{"snapshot @root-blank → @root.new", "set compression=zstd on @root.new", "exchange @root.new ⇄ @root",
				"rename @root.new → old_roots/@root/20261125T204023Z-0123abcd", "set read-only on old_roots/@root/20261125T204023Z-0123abcd"}},
		{"fresh S.new not swapped in", []btrfs.Subvolume{sv(257, "@root"), sv(400, "@root.new")},
			[]string{"delete subvolume 400 (@root.new)", "snapshot @root-blank → @root.new"}},
		{"old state swapped out", []btrfs.Subvolume{sv(400, "@root"), sv(257, "@root.new"), sv(258, "@root.new/var/lib/machines")},
			[]string{"rename @root.new → old_roots/@root/20261125T204023Z-0123abcd",
				"set read-only on old_roots/@root/20261125T204023Z-0123abcd", "snapshot @root-blank → @root.new"}},
		{"S missing", []btrfs.Subvolume{sv(257, "@root.new")},
			[]string{"rename @root.new → @root", "snapshot @root-blank → @root.new"}},
		{"nothing", nil, []string{"snapshot @root-blank → @root.new", "set compression=zstd on @root.new", "rename @root.new → @root"}},
	} {
		subs := map[string]btrfs.Subvolume{}
		for k, v := range base {
			subs[k] = v
		}
		for _, s := range tc.extra {
			subs[s.Path] = s
		}
		p := Build(cfg, Observed{Subvolumes: subs, Entries: map[string][]string{"old_roots/@root": nil}},
			Options{Now: now, BootID: "0123abcd"})
		var got []string
		for _, s := range p.Steps[:len(tc.want)] {
			got = append(got, s.String())
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: steps (-want +got):\n%s", tc.name, diff)
		}
	}
	// archive = false: the old state and its nested subvolumes are deleted deepest first.
	subs := map[string]btrfs.Subvolume{"@root-blank": {ID: 256, Path: "@root-blank", ReadOnly: true},
		"@root": sv(257, "@root"), "@var-cache": sv(300, "@var-cache"), "@var-cache/a": sv(302, "@var-cache/a"),
		"@var-cache/a/b": sv(303, "@var-cache/a/b"), "@var-tmp": sv(301, "@var-tmp")}
	p := Build(cfg, Observed{Subvolumes: subs, Entries: map[string][]string{"old_roots/@root": nil}}, Options{Now: now, BootID: "0123abcd"})
	var dels []string
	for _, s := range p.Steps {
		if s.Op == OpDelete && s.Subvolume == "@var-cache" {
			dels = append(dels, s.String())
		}
	}
	want := []string{"delete subvolume 303 (@var-cache.new/a/b)", "delete subvolume 302 (@var-cache.new/a)", "delete subvolume 300 (@var-cache.new)"}
	if diff := cmp.Diff(want, dels); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
}

func TestCmdline(t *testing.T) {
	for cmdline, want := range map[string]bool{
		"": false, "server-impermanence.rollback=0": true, "server-impermanence.rollback=off quiet": true,
		"server-impermanence.rollback=0 server-impermanence.rollback=1": false,
		`x="a b" server-impermanence.rollback=no`:                       true, "server-impermanence.rollback=1": false,
		"rd.server-impermanence.rollback=0": true, "server-impermanence.rollback=f": true,
		"server-impermanence.rollback": false, "server-impermanence.rollbackx=0": false,
	} {
		if got := RollbackDisabled(cmdline); got != want {
			t.Errorf("RollbackDisabled(%q) = %t, want %t", cmdline, got, want)
		}
	}
}

func TestResumeDevice(t *testing.T) {
	page := int64(os.Getpagesize())
	for _, tc := range []struct {
		cmdline, sys, dev string
		off               int64
	}{
		{"quiet", "0:0", "", 0},
		{"resume=UUID=ab", "0:0", "/r/dev/disk/by-uuid/ab", 0},
		{"resume=/dev/sda2 resume_offset=10", "", "/r/dev/sda2", 10 * page},
		{"resume=/dev/sda2", "8:2\n", "/r/dev/block/8:2", 0},
		{"resume=/dev/sda2 noresume", "8:2", "", 0},
		{"resume=PARTLABEL=swap", "0:0", "/r/dev/disk/by-partlabel/swap", 0},
		// As udev and systemd name it (internal/cmdline): '/' in a label is \x2f.
		{"resume=LABEL=swap/a", "0:0", `/r/dev/disk/by-label/swap\x2fa`, 0},
		{"resume=8:2 resume_offset=1", "", "/r/dev/block/8:2", page},
		{"resume=/dev/sda2 resume=", "", "", 0},
	} {
		dev, off, err := ResumeDevice("/r", tc.cmdline, tc.sys)
		if err != nil || dev != tc.dev || off != tc.off {
			t.Errorf("ResumeDevice(%q, %q) = %q, %d, %v; want %q, %d", tc.cmdline, tc.sys, dev, off, err, tc.dev, tc.off)
		}
	}
	if _, _, err := ResumeDevice("/r", "resume=sda2", ""); err == nil || err.Error() != `unsupported resume="sda2"` {
		t.Errorf("ResumeDevice(resume=sda2) error = %v", err)
	}
	// A configured but missing device: skip (cannot rule an image out).
	if yes, why := Resuming(t.TempDir(), "resume=UUID=gone"); !yes || !strings.Contains(why, "unreadable") {
		t.Errorf("Resuming with a missing device = %t, %q", yes, why)
	}
	// An image at resume_offset in a swap file.
	root := t.TempDir()
	f := filepath.Join(root, "swapfile")
	b := make([]byte, 4*page)
	copy(b[3*page-10:], "S1SUSPEND")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if yes, _ := Resuming(root, "resume=/swapfile resume_offset=2"); !yes {
		t.Error("image at resume_offset not detected")
	}
	if yes, _ := Resuming(root, "resume=/swapfile"); yes {
		t.Error("image detected at offset 0 where there is none")
	}
}

// TestBlankLeftoverIgnored: impermanence-provision --replace-blank builds
// the new blank as <blank>.provisioning and leaves the old one under that
// name until it is deleted; a crash can leave either at boot. The rollback
// must neither refuse nor reset from it, nor treat it as an S.new.
func TestBlankLeftoverIgnored(t *testing.T) {
	cfg := config.Default()
	now := time.Date(2026, 11, 25, 20, 40, 23, 0, time.UTC)
	opt := Options{Now: now, BootID: "0123abcd"}
	obs := func(extra ...btrfs.Subvolume) Observed {
		subs := map[string]btrfs.Subvolume{"@root-blank": {ID: 256, Path: "@root-blank", ReadOnly: true},
			"@root": {ID: 257, Path: "@root"}, "@var-cache": {ID: 300, Path: "@var-cache"}, "@var-tmp": {ID: 301, Path: "@var-tmp"}}
		for _, s := range extra {
			subs[s.Path] = s
		}
		return Observed{Subvolumes: subs, Mounted: map[uint64][]string{}, Entries: map[string][]string{"old_roots/@root": nil}}
	}
	// Older (the old blank swapped out) and newer (a new one not swapped in)
	// than the blank, and mounted: none of it matters.
	for _, left := range []btrfs.Subvolume{
		{ID: 200, Path: "@root-blank.provisioning", ReadOnly: true},
		{ID: 400, Path: "@root-blank.provisioning", ReadOnly: true},
	} {
		with := obs(left)
		with.Mounted[left.ID] = []string{"/mnt/old-blank"}
		if errs := Check(cfg, with, opt); len(errs) != 0 {
			t.Errorf("Check with %s (id %d) = %v, want no refusal", left.Path, left.ID, errs)
		}
		want, got := Build(cfg, obs(), opt), Build(cfg, with, opt)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Build with %s (id %d) differs (-without +with):\n%s", left.Path, left.ID, diff)
		}
	}
	// Without the blank the rollback refuses; it never adopts the leftover.
	noBlank := obs(btrfs.Subvolume{ID: 400, Path: "@root-blank.provisioning", ReadOnly: true})
	delete(noBlank.Subvolumes, "@root-blank")
	if errs := Check(cfg, noBlank, opt); len(errs) == 0 || !strings.Contains(errs[0].Error(), "blank @root-blank does not exist") {
		t.Errorf("Check without the blank = %v, want a refusal", errs)
	}
}

// TestConfigDigest: the rollback records configsum's digest of the sources
// it loaded, main file then drop-ins, which the exporter compares with
// /etc's (impermanence_initrd_config_stale).
func TestConfigDigest(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.toml")
	write(t, main, string(config.DefaultTOML()))
	write(t, filepath.Join(dir, "config.d/10-archive.toml"), "[archive]\nkeep_days = 10\n")
	cfg, sum, err := loadConfig(main, false)
	if err != nil {
		t.Fatal(err)
	}
	want, err := configsum.File(main)
	if err != nil {
		t.Fatal(err)
	}
	if sum != want || cfg.Archive.KeepDays != 10 {
		t.Errorf("loadConfig digest = %s (keep_days %d), want configsum.File = %s (keep_days 10)", sum, cfg.Archive.KeepDays, want)
	}
	if _, sum, _ := loadConfig("", true); sum != configsum.Sum([]config.Source{{Name: "<built-in default>", Data: config.DefaultTOML()}}) {
		t.Errorf("--default digest = %s, not configsum's of the built-in default", sum)
	}
}

// TestBuildReadOnlyArchives: a kept archive (or a restore's replaced state)
// that is writable becomes read-only, unless mounted; a read-only archive
// that retention deletes is made writable before its nested subvolumes go,
// and only a parent is.
func TestBuildReadOnlyArchives(t *testing.T) {
	cfg := config.Default()
	now := time.Date(2026, 11, 25, 20, 40, 23, 0, time.UTC)
	old := "old_roots/@root/20261001T000000Z-0123abcd"   // expired, read-only, nested
	old2 := "old_roots/@root/20261002T000000Z-0123abcd"  // expired, read-only, no nested
	kept := "old_roots/@root/20261120T000000Z-0123abcd"  // writable: made read-only
	kept2 := "old_roots/@root/20261121T000000Z-0123abcd" // writable and mounted: left
	repl := "old_roots/@root/20261122T000000Z-replaced"  // a restore's replaced state, writable
	junk := "old_roots/@root/notes"                      // not ours
	ro := func(id uint64, p string, ro bool) btrfs.Subvolume {
		return btrfs.Subvolume{ID: id, Path: p, ReadOnly: ro}
	}
	subs := map[string]btrfs.Subvolume{}
	for _, s := range []btrfs.Subvolume{ro(256, "@root-blank", true), ro(257, "@root", false), ro(300, "@var-cache", false), ro(301, "@var-tmp", false),
		ro(400, old, true), ro(401, old+"/var/lib/machines", true), ro(402, old+"/var/lib/machines/inner", false), ro(403, old2, true),
		ro(410, kept, false), ro(411, kept2, false), ro(412, repl, false), ro(413, junk, false)} {
		subs[s.Path] = s
	}
	cfg.Archive.KeepMin = 1
	p := Build(cfg, Observed{Subvolumes: subs, Mounted: map[uint64][]string{411: {"/mnt/look"}},
		Entries: map[string][]string{"old_roots/@root": {"20261001T000000Z-0123abcd", "20261002T000000Z-0123abcd", "20261120T000000Z-0123abcd",
			"20261121T000000Z-0123abcd", "20261122T000000Z-replaced", "notes"}}}, Options{Now: now, BootID: "89abcdef"})
	var got []string
	for _, s := range p.Steps {
		if s.Action == "prune" || s.Action == "repair" {
			got = append(got, s.String())
		}
	}
	want := []string{ // newest first; a read-only archive without nested subvolumes is deleted as it is
		"delete subvolume 403 (" + old2 + ")",
		"clear read-only on " + old, "clear read-only on " + old + "/var/lib/machines",
		"delete subvolume 402 (" + old + "/var/lib/machines/inner)", "delete subvolume 401 (" + old + "/var/lib/machines)",
		"delete subvolume 400 (" + old + ")",
	}
	var repairs []string
	for _, s := range p.Steps {
		if s.Action == "repair" {
			repairs = append(repairs, s.Path)
		}
	}
	var prunes []string
	for _, g := range got {
		if !strings.HasPrefix(g, "set read-only on ") {
			prunes = append(prunes, g)
		}
	}
	if diff := cmp.Diff(want, prunes); diff != "" {
		t.Errorf("prune steps (-want +got):\n%s", diff)
	}
	slices.Sort(repairs)
	if diff := cmp.Diff([]string{kept, repl}, repairs); diff != "" {
		t.Errorf("made read-only (-want +got):\n%s", diff)
	}
}
