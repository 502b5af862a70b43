package rollback

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Every refusal leaves @root as it is, exits 1, says what to do and records
// the failure.
func TestFailSafeRefusals(t *testing.T) {
	tfs := layout(t)
	fsys := openFS(t, tfs)
	write(t, filepath.Join(tfs.Mount, "@root/keep"), "state")
	badCfg := filepath.Join(t.TempDir(), "config.toml")
	write(t, badCfg, "mode = \"fast\"\n")
	for _, tc := range []struct {
		name    string
		setup   func() func()
		args    []string
		noDef   bool
		want    []string
		skipped bool
	}{
		{name: "blank missing", setup: func() func() {
			must(t, fsys.Rename("@root-blank", "moved-blank"))
			return func() { must(t, fsys.Rename("moved-blank", "@root-blank")) }
		}, want: []string{"blank @root-blank does not exist", "impermanence-provision"}},
		{name: "blank writable", setup: func() func() {
			must(t, fsys.SetReadOnly("@root-blank", false))
			return func() { must(t, fsys.SetReadOnly("@root-blank", true)) }
		}, want: []string{"blank @root-blank is writable", "ro true"}},
		{name: "invalid config", args: []string{"--config", badCfg}, noDef: true,
			want: []string{"invalid configuration", "mode", "server-impermanence-generator --check"}},
		{name: "no space", args: []string{"--min-free", "1000000"},
			want: []string{"MiB free", "free space"}},
		{name: "root mounted", setup: func() func() {
			dir := tfs.MountSubvol(t, "@root")
			return func() { must(t, unmount(dir)) }
		}, want: []string{"@root is mounted at", "reboot"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				defer tc.setup()()
			}
			h := host(t, "")
			before := subvols(t, fsys)
			code, out := rollback(t, tfs, runOpts{root: h, noDefault: tc.noDef}, tc.args...)
			if code != job.ExitFailure || !contains(out, tc.want...) {
				t.Errorf("exit %d, want 1 with %q:\n%s", code, tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(tfs.Mount, "@root/keep")); err != nil {
				t.Errorf("@root was changed: %v", err)
			}
			if diff := cmp.Diff(keys(before), keys(subvols(t, fsys))); diff != "" {
				t.Errorf("subvolumes changed:\n%s", diff)
			}
			rec, err := state.Read(filepath.Join(h, "run/server-impermanence"), Job)
			if err != nil || rec.Result != state.ResultRefused || rec.Error == "" {
				t.Errorf("state record %+v, %v; want refused with the error", rec, err)
			}
		})
	}
}

func unmount(dir string) error {
	out, err := execCommand("umount", dir)
	if err != nil {
		return fmt.Errorf("umount %s: %v: %s", dir, err, out)
	}
	return nil
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func keys(m map[string]btrfs.Subvolume) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestSkips(t *testing.T) {
	tfs := layout(t)
	write(t, filepath.Join(tfs.Mount, "@root/keep"), "state")
	// Emergency switch.
	h := host(t, "root=/dev/sda2 server-impermanence.rollback=0 quiet")
	code, out := rollback(t, tfs, runOpts{root: h})
	if code != job.ExitOK || !contains(out, "skipped", "emergency switch") {
		t.Errorf("emergency switch: exit %d\n%s", code, out)
	}
	rec, err := state.Read(filepath.Join(h, "run/server-impermanence"), Job)
	if err != nil || rec.Result != state.ResultSkipped {
		t.Errorf("state after the switch = %+v, %v", rec, err)
	}
	// A hibernation image on the resume device.
	h = host(t, "resume=UUID=1234 quiet")
	swap := filepath.Join(h, "dev/disk/by-uuid/1234")
	write(t, swap, "")
	page := make([]byte, 2*os.Getpagesize())
	copy(page[os.Getpagesize()-10:], "S1SUSPEND")
	must(t, os.WriteFile(swap, page, 0o600))
	code, out = rollback(t, tfs, runOpts{root: h})
	if code != job.ExitOK || !contains(out, "skipped", "hibernation image") {
		t.Errorf("hibernation: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "@root/keep")); err != nil {
		t.Errorf("skipped rollback changed @root: %v", err)
	}
	// A plain swap signature: the rollback runs.
	copy(page[os.Getpagesize()-10:], "SWAPSPACE2")
	must(t, os.WriteFile(swap, page, 0o600))
	if code, out = rollback(t, tfs, runOpts{root: h}); code != job.ExitOK || strings.Contains(out, "skipped") {
		t.Errorf("plain swap: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "@root/keep")); !os.IsNotExist(err) {
		t.Errorf("@root not reset after a plain swap header: %v", err)
	}
}

// 40 archives aged 1 to 59 days: retention keeps those up to 30 days (and
// keep_min), deletes the rest deepest first, never a mounted one.
func TestPrune40Archives(t *testing.T) {
	tfs := layout(t)
	fsys := openFS(t, tfs)
	now := time.Date(2026, 11, 25, 20, 40, 23, 0, time.UTC)
	var wantKept []string
	mountedName, nestedName := "", ""
	for i := range 40 {
		age := 1 + (i*58+19)/39 // 1 … 59 days
		name := fmt.Sprintf("%s-%08x", now.Add(-time.Duration(age)*24*time.Hour-time.Minute).Format(names.TimeLayout), i)
		p := "old_roots/@root/" + name
		must(t, fsys.Snapshot("@root-blank", p, i%2 == 0)) // read-only ones too
		switch {
		case age <= 30:
			wantKept = append(wantKept, name)
		case mountedName == "":
			mountedName = name
			wantKept = append(wantKept, name)
		case nestedName == "":
			nestedName = name
			must(t, fsys.SetReadOnly(p, false))
			must(t, fsys.CreateSubvolume(p+"/inner"))
			must(t, fsys.CreateSubvolume(p+"/inner/deeper"))
		}
	}
	tfs.MountSubvol(t, "old_roots/@root/"+mountedName)
	code, out := rollback(t, tfs, runOpts{now: now})
	if code != job.ExitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	wantKept = append(wantKept, "20261125T204023Z-0123abcd")
	slices.Sort(wantKept)
	if diff := cmp.Diff(wantKept, archivesOf(t, tfs, "@root")); diff != "" {
		t.Errorf("archives after pruning (-want +got):\n%s", diff)
	}
	if !contains(out, "expired but mounted at", "after the time in its name") {
		t.Errorf("output lacks the mounted-archive and otime warnings:\n%s", out)
	}
	for p := range subvols(t, fsys) {
		if strings.Contains(p, nestedName) {
			t.Errorf("nested subvolume %s of a pruned archive left", p)
		}
	}
	// The space comes back at once: the deleted subvolumes are cleaned.
	start := time.Now()
	subs, err := fsys.List()
	must(t, err)
	_ = subs
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("listing took %s", d)
	}
}

func TestCheckRefusesUnsafeTargets(t *testing.T) {
	base := func() *config.Config {
		return &config.Config{
			Archive: config.Archive{Dir: "old_roots", KeepDays: 30, KeepMin: 3},
			Persist: config.Persist{Subvolume: "@persist"},
			Subvolumes: []config.Subvolume{
				{Name: "@root", Mountpoint: "/", Class: config.Ephemeral, CoW: true, Blank: "@root-blank", Archive: true},
				{Name: "@persist", Mountpoint: "/persist", Class: config.Permanent, CoW: true},
			},
			Snapshots: config.Snapshots{Dir: "@snapshots"},
		}
	}
	obs := Observed{Subvolumes: map[string]btrfs.Subvolume{
		"@root": {ID: 256, Path: "@root"}, "@root-blank": {ID: 257, Path: "@root-blank", ReadOnly: true},
	}, Mounted: map[uint64][]string{}, Free: 1 << 30}
	if errs := Check(base(), obs, Options{MinFree: 1 << 20}); len(errs) != 0 {
		t.Fatalf("Check(valid) = %v, want nothing", errs)
	}
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		want   string
	}{
		{"persist ephemeral", func(c *config.Config) { c.Subvolumes[1].Class = config.Ephemeral }, "the persist subvolume"},
		{"permanent nested in ephemeral", func(c *config.Config) {
			c.Subvolumes = append(c.Subvolumes, config.Subvolume{Name: "@root/srv", Mountpoint: "/srv", Class: config.Permanent})
		}, "contains permanent subvolume @root/srv"},
		{"ephemeral inside persist", func(c *config.Config) {
			c.Subvolumes = append(c.Subvolumes, config.Subvolume{Name: "@p2", Mountpoint: "/persist/x", Class: config.Ephemeral})
		}, "holds persisted paths"},
		{"snapshots ephemeral", func(c *config.Config) {
			c.Subvolumes = append(c.Subvolumes, config.Subvolume{Name: "@snapshots", Mountpoint: "/.snapshots", Class: config.Ephemeral})
		}, "the snapshots subvolume"},
		{"blank is a subvolume", func(c *config.Config) { c.Subvolumes[0].Blank = "@persist" }, "is a configured subvolume"},
	} {
		c := base()
		tc.change(c)
		errs := Check(c, obs, Options{})
		if len(errs) == 0 || !strings.Contains(fmt.Sprint(errs), tc.want) {
			t.Errorf("%s: Check = %v, want %q", tc.name, errs, tc.want)
		}
	}
}
