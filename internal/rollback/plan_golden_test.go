package rollback

import (
	"flag"
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
	"github.com/server-impermanence/server-impermanence/internal/names"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// render writes everything Check and Build decide, every field of every
// step, so a golden pins the whole plan, not a prefix of it.
func render(errs []error, p Plan) string {
	var b strings.Builder
	// Check's refusals come in map order: sorted here.
	var refusals []string
	for _, e := range errs {
		refusals = append(refusals, e.Error())
	}
	slices.Sort(refusals)
	b.WriteString("refusals:\n")
	for _, r := range refusals {
		fmt.Fprintf(&b, "  %s\n", r)
	}
	b.WriteString("steps:\n")
	for _, s := range p.Steps {
		fmt.Fprintf(&b, "  %-7s %-12s %s", s.Action, s.Subvolume, s)
		if s.ID != 0 && s.Op != OpDelete {
			fmt.Fprintf(&b, " (id %d)", s.ID)
		}
		b.WriteString("\n")
	}
	b.WriteString("archives:\n")
	for _, a := range p.Archives {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	b.WriteString("prune:\n")
	for _, d := range p.Prune {
		verdict := "keep"
		if d.Delete {
			verdict = "delete"
		}
		fmt.Fprintf(&b, "  %-6s %s (id %d, %s): %s\n", verdict, d.Path, d.ID, d.Time.Format(time.RFC3339), d.Reason)
	}
	for _, sec := range []struct {
		name string
		list []string
	}{{"repairs", p.Repairs}, {"warnings", p.Warnings}} {
		b.WriteString(sec.name + ":\n")
		for _, m := range sec.list {
			fmt.Fprintf(&b, "  %s\n", m)
		}
	}
	return b.String()
}

// TestPlanGolden pins the whole plan (and Check's refusals) of observed
// states at the boundaries: interrupted runs with nested subvolumes, a
// missing archive dir several levels deep (for two subvolumes), taken archive names, archives
// exactly keep_days old and a second older, two with the same time,
// mounted and writable ones, a clock behind the newest archive, free space
// at and below the minimum.
func TestPlanGolden(t *testing.T) {
	now := time.Date(2026, 11, 25, 20, 40, 23, 0, time.UTC)
	opt := Options{Now: now, BootID: "0123abcd", MinFree: 1 << 30}
	sv := func(id uint64, p string) btrfs.Subvolume { return btrfs.Subvolume{ID: id, Path: p} }
	ro := func(id uint64, p string) btrfs.Subvolume { return btrfs.Subvolume{ID: id, Path: p, ReadOnly: true} }
	arch := func(age time.Duration, boot string, n int) string {
		return "old_roots/@root/" + names.Archive(now.Add(-age), boot, n)
	}
	const day = 24 * time.Hour
	obs := func(entries map[string][]string, subs ...btrfs.Subvolume) Observed {
		m := map[string]btrfs.Subvolume{}
		for _, s := range subs {
			m[s.Path] = s
		}
		return Observed{Subvolumes: m, Mounted: map[uint64][]string{}, Entries: entries, Free: 1 << 30}
	}
	stock := []btrfs.Subvolume{ro(256, "@root-blank"), sv(257, "@root"), sv(300, "@var-cache"), sv(301, "@var-tmp")}
	withStock := func(entries map[string][]string, extra ...btrfs.Subvolume) Observed {
		return obs(entries, append(append([]btrfs.Subvolume{}, stock...), extra...)...)
	}
	rootEntries := map[string][]string{"old_roots/@root": nil}
	mount := func(m map[uint64][]string, o Observed) Observed { o.Mounted = m; return o }

	for _, tc := range []struct {
		name string
		cfg  func(*config.Config)
		obs  Observed
		opt  func(*Options)
	}{
		{name: "stock", obs: withStock(rootEntries)},
		{name: "nested-in-every-state", obs: withStock(rootEntries,
			sv(258, "@root/var/lib/machines"), sv(259, "@root/var/lib/machines/a"), sv(260, "@root/srv"),
			ro(302, "@var-cache/a"), sv(303, "@var-cache/a/b"), ro(304, "@var-cache/c"))},
		{name: "persist-at-root", cfg: func(c *config.Config) {
			for i := range c.Subvolumes {
				if c.Subvolumes[i].Name == "@persist" {
					c.Subvolumes[i].Mountpoint = "/"
				}
			}
		}, obs: withStock(rootEntries)},
		{name: "interrupted-fresh-new", obs: withStock(rootEntries, sv(400, "@root.new"), sv(401, "@root.new/x"))},
		{name: "interrupted-swapped-out", obs: withStock(rootEntries, sv(250, "@root.new"), ro(251, "@root.new/var/lib/machines"),
			sv(252, "@root.new/var/lib/machines/m"))},
		{name: "interrupted-missing", obs: obs(rootEntries, ro(256, "@root-blank"), sv(400, "@root.new"), sv(300, "@var-cache"))},
		{name: "archive-dir-missing", cfg: func(c *config.Config) { c.Archive.Dir = "keep/old/roots" },
			obs: withStock(map[string][]string{"keep/old/roots/@var-cache": nil})},
		{name: "archive-dir-missing-two", cfg: func(c *config.Config) {
			c.Archive.Dir = "keep/old/roots"
			for i := range c.Subvolumes {
				if c.Subvolumes[i].Name == "@var-cache" {
					c.Subvolumes[i].Archive = true
				}
			}
		}, obs: withStock(nil)},
		{name: "archive-name-taken", obs: withStock(map[string][]string{"old_roots/@root": {
			names.Archive(now, "0123abcd", 0), names.Archive(now, "0123abcd", 2), "unrelated"}})},
		{name: "retention-boundaries", cfg: func(c *config.Config) { c.Archive.KeepMin = 1 }, obs: mount(map[uint64][]string{513: {"/mnt/m"}, 300: nil}, withStock(rootEntries,
			ro(512, arch(70*day, "00000008", 0)), ro(513, arch(70*day, "00000008", 0)+"/m"), ro(514, arch(80*day, "00000009", 0)),
			ro(500, arch(30*day, "00000001", 0)),
			ro(501, arch(30*day+time.Second, "00000002", 0)),
			ro(502, arch(31*day, "00000003", 0)), ro(503, arch(31*day, "00000003", 2)),
			ro(504, arch(40*day, "00000004", 0)), ro(505, arch(40*day, "00000004", 0)+"/nested"),
			ro(506, arch(50*day, "00000005", 0)), sv(507, arch(50*day, "00000005", 0)+"/in/deep"),
			ro(508, arch(60*day, "00000006", 0)), ro(509, arch(60*day, "00000006", 0)+"/m"),
			ro(510, "old_roots/@root/hand-made"), ro(511, "old_roots/@root/x/"+names.Archive(now.Add(-90*day), "00000007", 0)),
		))},
		{name: "writable-kept", obs: withStock(rootEntries,
			sv(600, arch(time.Hour, "00000001", 0)), sv(601, "old_roots/@root/"+names.Replaced(now.Add(-2*time.Hour), 0)),
			sv(602, arch(3*time.Hour, "00000003", 0)), sv(603, "old_roots/@root/hand-made"), sv(604, arch(90*day, "00000004", 0)))},
		{name: "clock-behind", obs: withStock(rootEntries,
			ro(700, "old_roots/@root/"+names.Archive(now.Add(day), "00000001", 0)), ro(701, arch(100*day, "00000002", 0)),
			ro(702, arch(101*day, "00000003", 0)), ro(703, arch(102*day, "00000004", 0)), ro(704, arch(103*day, "00000005", 0)))},
		{name: "refusals", cfg: func(c *config.Config) {
			for i := range c.Subvolumes {
				if c.Subvolumes[i].Name == "@var-cache" {
					c.Subvolumes[i].Blank = "@var-cache-blank"
				}
				if c.Subvolumes[i].Name == "@var-tmp" {
					c.Subvolumes[i].Blank = "@var-tmp-blank"
				}
			}
		}, obs: func() Observed {
			o := withStock(rootEntries, sv(800, "@var-tmp-blank"), sv(801, "@root.new"), sv(802, "@root/srv"), sv(803, "@root.new/x"))
			o.Mounted = map[uint64][]string{801: {"/mnt/a"}, 803: {"/mnt/b", "/mnt/c"}, 300: {"/var/cache"}}
			o.Free = 1<<30 - 1
			return o
		}()},
		{name: "free-at-minimum", obs: func() Observed {
			o := withStock(rootEntries)
			o.Free = 1 << 30
			return o
		}()},
		{name: "no-minimum", obs: func() Observed {
			o := withStock(rootEntries)
			o.Free = 0
			return o
		}(), opt: func(o *Options) { o.MinFree = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			o := opt
			if tc.opt != nil {
				tc.opt(&o)
			}
			got := render(Check(cfg, tc.obs, o), Build(cfg, tc.obs, o))
			golden := filepath.Join("testdata", "plan", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
