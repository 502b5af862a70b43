package provision

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/names"
)

// complete is what a fully provisioned default layout looks like.
func complete(cfg *config.Config) Observed {
	obs := Observed{}
	for _, s := range cfg.Subvolumes {
		obs[s.Name] = Entry{Kind: Subvolume, NoCoW: !s.CoW, Compression: property(s), Mode: 0o755}
		if s.Class == config.Ephemeral && s.Blank != "" {
			obs[s.Blank] = Entry{Kind: Subvolume, ReadOnly: true, NoCoW: !s.CoW, Compression: property(s), Mode: 0o755}
		}
		if s.Class == config.Ephemeral && s.Archive {
			obs[cfg.Archive.Dir+"/"+s.Name] = Entry{Kind: Directory, Mode: 0o700}
		}
	}
	obs[cfg.Snapshots.Dir] = Entry{Kind: Subvolume, Mode: 0o700}
	obs[cfg.Archive.Dir] = Entry{Kind: Directory, Mode: 0o700}
	return obs
}

func ops(r Result) []string {
	var out []string
	for _, a := range r.Actions {
		out = append(out, string(a.Op)+" "+a.Path)
	}
	return out
}

func TestPlanFromEmpty(t *testing.T) {
	cfg := config.Default()
	r := Plan(cfg, Observed{}, Options{})
	want := []string{
		"create-subvolume @root-blank",
		"snapshot @root",
		"create-subvolume @var-cache",
		"create-subvolume @var-tmp",
		"create-subvolume @nix",
		"create-subvolume @persist",
		"create-subvolume @var-log",
		"create-subvolume @var-lib-services",
		"create-subvolume @var-lib-caddy",
		"create-subvolume @var-backup",
		"create-subvolume @var-lib-containers",
		"create-subvolume @snapshots",
		"mkdir old_roots",
		"mkdir old_roots/@root",
	}
	if diff := cmp.Diff(want, ops(r)); diff != "" {
		t.Errorf("Plan(default, empty fs) actions (-want +got):\n%s", diff)
	}
	if len(r.Mismatches) != 0 {
		t.Errorf("Plan(default, empty fs) mismatches = %v, want none", r.Mismatches)
	}
	byPath := map[string]Action{}
	for _, a := range r.Actions {
		byPath[a.Path] = a
	}
	for path, wantA := range map[string]Action{
		"@root-blank":         {Op: OpCreate, ReadOnly: true, Compression: "zstd"},
		"@var-tmp":            {Op: OpCreate, NoCoW: true},
		"@var-lib-containers": {Op: OpCreate, NoCoW: true},
		"@nix":                {Op: OpCreate, Compression: "zstd"},
		"@snapshots":          {Op: OpCreate, Mode: 0o700},
	} {
		a := byPath[path]
		got := Action{Op: a.Op, ReadOnly: a.ReadOnly, NoCoW: a.NoCoW, Compression: a.Compression, Mode: a.Mode}
		if got != wantA {
			t.Errorf("action for %s = %+v, want %+v", path, got, wantA)
		}
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "@root-blank") {
		t.Errorf("warnings = %q, want one about the empty root blank", r.Warnings)
	}
}

func TestPlanIsIdempotent(t *testing.T) {
	cfg := config.Default()
	r := Plan(cfg, complete(cfg), Options{BlankFrom: "/"})
	if len(r.Actions) != 0 || len(r.Mismatches) != 0 || len(r.Warnings) != 0 {
		t.Errorf("Plan(default, provisioned fs) = %+v, want nothing to do", r)
	}
}

func TestPlanPartialLayout(t *testing.T) {
	cfg := config.Default()
	obs := complete(cfg)
	delete(obs, "@nix")
	delete(obs, "@root") // a blank exists: the root starts from it
	delete(obs, "old_roots/@root")
	obs["@persist"+TempSuffix] = Entry{Kind: Subvolume}
	r := Plan(cfg, obs, Options{})
	want := []string{"remove-leftover @persist.provisioning", "snapshot @root", "create-subvolume @nix", "mkdir old_roots/@root"}
	if diff := cmp.Diff(want, ops(r)); diff != "" {
		t.Errorf("Plan(partial) actions (-want +got):\n%s", diff)
	}
}

func TestPlanReportsMismatches(t *testing.T) {
	cfg := config.Default()
	tests := []struct {
		name  string
		path  string
		entry Entry
		want  string
	}{
		{"writable blank", "@root-blank", Entry{Kind: Subvolume, Compression: "zstd"}, "@root-blank: want read-only, found writable"},
		{"directory where a subvolume belongs", "@nix", Entry{Kind: Directory}, "@nix: want a subvolume, found a directory"},
		{"file where a subvolume belongs", "@var-log", Entry{Kind: Other}, "@var-log: want a subvolume, found not a directory"},
		{"read-only subvolume", "@nix", Entry{Kind: Subvolume, ReadOnly: true, Compression: "zstd"}, "@nix: want writable, found read-only"},
		{"missing nocow", "@var-lib-containers", Entry{Kind: Subvolume}, "@var-lib-containers: want nocow=true, found nocow=false"},
		{"open snapshots dir", "@snapshots", Entry{Kind: Subvolume, Mode: 0o755}, "@snapshots: want root:root 0700, found 0:0 0755"},
		{"subvolume where the archive dir belongs", "old_roots", Entry{Kind: Subvolume}, "old_roots: want a plain directory, found a subvolume"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := complete(cfg)
			obs[tt.path] = tt.entry
			r := Plan(cfg, obs, Options{})
			if len(r.Actions) != 0 {
				t.Errorf("actions = %v, want none (existing things are never changed)", ops(r))
			}
			if len(r.Mismatches) != 1 || !strings.HasPrefix(r.Mismatches[0].String(), tt.want) {
				t.Errorf("mismatches = %v, want one starting %q", r.Mismatches, tt.want)
			}
		})
	}
}

// A compression property that the next boot sets is a warning, not a
// mismatch: the rollback recreates an ephemeral subvolume with it, the tune
// service sets it on the others. Where nothing sets it, it is a mismatch.
func TestPlanCompressionDifferences(t *testing.T) {
	const (
		byRollback = " (applied at the next boot by the rollback; affects new writes only)"
		byTune     = " (applied by server-impermanence-tune.service at boot; affects new writes only)"
	)
	tests := []struct {
		name       string
		unset      string // a subvolume configured without compression
		path       string
		entry      Entry
		mismatches []string
		warnings   []string
	}{
		{
			name: "permanent, other algorithm", path: "@nix",
			entry:    Entry{Kind: Subvolume, Compression: "lzo"},
			warnings: []string{`@nix: want compression property "zstd", found "lzo"` + byTune},
		},
		{
			name: "permanent, no property", path: "@var-log",
			entry:    Entry{Kind: Subvolume},
			warnings: []string{`@var-log: want compression property "zstd", found ""` + byTune},
		},
		{
			name: "ephemeral root of a fresh install", path: "@root",
			entry:    Entry{Kind: Subvolume},
			warnings: []string{`@root: want compression property "zstd", found ""` + byRollback},
		},
		{
			name: "ephemeral without a blank", path: "@var-cache",
			entry:    Entry{Kind: Subvolume, Compression: "lzo"},
			warnings: []string{`@var-cache: want compression property "zstd", found "lzo"` + byRollback},
		},
		{
			name: "ephemeral NoCoW with a property", path: "@var-tmp",
			entry:      Entry{Kind: Subvolume, Compression: "zstd"},
			mismatches: []string{"@var-tmp: want nocow=true, found nocow=false (NoCoW can only be set on an empty subvolume: recreate it and copy the data)"},
			warnings:   []string{`@var-tmp: want compression property "", found "zstd"` + byRollback},
		},
		{
			name: "permanent without configured compression keeps a property", unset: "@nix", path: "@nix",
			entry:      Entry{Kind: Subvolume, Compression: "lzo"},
			mismatches: []string{`@nix: want compression property "", found "lzo" (btrfs property set @nix compression "" (affects new writes only))`},
		},
		{
			name: "permanent NoCoW where compression is configured", path: "@nix",
			entry: Entry{Kind: Subvolume, NoCoW: true},
			mismatches: []string{
				"@nix: want nocow=false, found nocow=true (NoCoW can only be set on an empty subvolume: recreate it and copy the data)",
				`@nix: want compression property "zstd", found "" (btrfs property set @nix compression zstd (affects new writes only))`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			for i := range cfg.Subvolumes {
				if cfg.Subvolumes[i].Name == tt.unset {
					cfg.Subvolumes[i].Compression = ""
				}
			}
			obs := complete(cfg)
			obs[tt.path] = tt.entry
			r := Plan(cfg, obs, Options{})
			if len(r.Actions) != 0 {
				t.Errorf("actions = %v, want none (existing things are never changed)", ops(r))
			}
			var mismatches []string
			for _, m := range r.Mismatches {
				mismatches = append(mismatches, m.String())
			}
			if diff := cmp.Diff(tt.mismatches, mismatches); diff != "" {
				t.Errorf("mismatches (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.warnings, r.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanBlankFrom(t *testing.T) {
	cfg := config.Default()
	tests := []struct {
		from   string
		wantOp Op
	}{
		{"/mnt/installed-root", OpCapture},
		{"@installed", OpSnapshot},
	}
	for _, tt := range tests {
		obs := Observed{"@installed": {Kind: Subvolume}}
		r := Plan(cfg, obs, Options{BlankFrom: tt.from})
		a := r.Actions[0]
		if a.Op != tt.wantOp || a.Path != "@root-blank" || a.From != tt.from || !a.ReadOnly {
			t.Errorf("Plan(--blank-from %s) first action = %+v, want %s of %s into read-only @root-blank", tt.from, a, tt.wantOp, tt.from)
		}
		for _, w := range r.Warnings {
			if strings.Contains(w, "created empty") {
				t.Errorf("Plan(--blank-from %s) warns %q", tt.from, w)
			}
		}
	}
}

func TestPlanReplaceBlank(t *testing.T) {
	cfg := config.Default()
	leftover := "@root-blank" + TempSuffix
	withBlank := func(e Entry, extra ...string) Observed {
		obs := complete(cfg)
		obs["@root-blank"] = e
		for _, p := range extra {
			obs[p] = Entry{Kind: Subvolume, ReadOnly: true}
		}
		return obs
	}
	ro := Entry{Kind: Subvolume, ReadOnly: true}
	tests := []struct {
		name       string
		obs        Observed
		opt        Options
		want       []string
		mismatches int
		warning    string // a warning that must be there, "" for none expected
	}{
		{"replaces the existing blank", withBlank(ro), Options{BlankFrom: "@root", ReplaceBlank: true},
			[]string{"replace-blank @root-blank"}, 0, "is the live root"},
		{"from a directory", withBlank(ro), Options{BlankFrom: "/mnt/clean", ReplaceBlank: true},
			[]string{"replace-blank @root-blank"}, 0, ""},
		{"removes a leftover first", withBlank(ro, leftover), Options{BlankFrom: "@root", ReplaceBlank: true},
			[]string{"remove-leftover " + leftover, "replace-blank @root-blank"}, 0, ""},
		{"a writable blank is replaced, with a warning", withBlank(Entry{Kind: Subvolume}), Options{BlankFrom: "@root", ReplaceBlank: true},
			[]string{"replace-blank @root-blank"}, 0, "is writable; it is replaced"},
		{"a missing blank is captured as without --replace-blank", func() Observed { o := complete(cfg); delete(o, "@root-blank"); return o }(),
			Options{BlankFrom: "@root", ReplaceBlank: true}, []string{"snapshot @root-blank"}, 0, ""},
		{"a blank that is not a subvolume is reported, not replaced", withBlank(Entry{Kind: Directory}), Options{BlankFrom: "@root", ReplaceBlank: true},
			nil, 1, ""},
		{"without --replace-blank an existing blank is kept", withBlank(ro), Options{BlankFrom: "@root"}, nil, 0, ""},
		{"without --blank-from nothing is replaced", withBlank(ro), Options{ReplaceBlank: true}, nil, 0, "needs --blank-from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Plan(cfg, tt.obs, tt.opt)
			if diff := cmp.Diff(tt.want, ops(r)); diff != "" {
				t.Errorf("Plan(%+v) actions (-want +got):\n%s", tt.opt, diff)
			}
			if len(r.Mismatches) != tt.mismatches {
				t.Errorf("Plan(%+v) mismatches = %v, want %d", tt.opt, r.Mismatches, tt.mismatches)
			}
			if tt.warning != "" && !strings.Contains(strings.Join(r.Warnings, "\n"), tt.warning) {
				t.Errorf("Plan(%+v) warnings = %q, want one with %q", tt.opt, r.Warnings, tt.warning)
			}
			for _, a := range r.Actions {
				if a.Op != OpReplace {
					continue
				}
				if a.From != tt.opt.BlankFrom || !a.ReadOnly {
					t.Errorf("Plan(%+v) replace = %+v, want read-only from %s", tt.opt, a, tt.opt.BlankFrom)
				}
				if s := a.String(); !strings.Contains(s, "replace blank @root-blank") || !strings.Contains(s, leftover) {
					t.Errorf("Action.String() = %q", s)
				}
			}
		})
	}
}

// TestPlanRepairsInterruptedCommit: the leftover of the root's blank is the
// old blank exchanged out when it was made before the blank (a lower id),
// retired into the history under the blank's creation time (the next free
// second when that is taken); a newer one is a new blank never exchanged
// in, removed.
func TestPlanRepairsInterruptedCommit(t *testing.T) {
	cfg := config.Default()
	made := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	obs := func(leftoverID uint64, taken ...string) Observed {
		o := complete(cfg)
		o["@root-blank"] = Entry{Kind: Subvolume, ReadOnly: true, Sub: btrfs.Subvolume{ID: 20, Path: "@root-blank", OTime: made}}
		o["@root-blank"+TempSuffix] = Entry{Kind: Subvolume, ReadOnly: true, Sub: btrfs.Subvolume{ID: leftoverID, Path: "@root-blank" + TempSuffix}}
		for _, p := range taken {
			o[p] = Entry{Kind: Subvolume, ReadOnly: true, Sub: btrfs.Subvolume{ID: 5, Path: p}}
		}
		return o
	}
	at := names.BlankHistory("@root-blank", made)
	next := names.BlankHistory("@root-blank", made.Add(time.Second))
	for _, tc := range []struct {
		name string
		obs  Observed
		want []string
	}{
		{"exchanged out", obs(10), []string{"retire-blank @root-blank" + TempSuffix + " → " + at}},
		{"exchanged out, the name taken", obs(10, at), []string{"retire-blank @root-blank" + TempSuffix + " → " + next}},
		{"never exchanged in", obs(30), []string{"remove-leftover @root-blank" + TempSuffix}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Plan(cfg, tc.obs, Options{})
			var got []string
			for _, a := range r.Actions {
				s := string(a.Op) + " " + a.Path
				if a.To != "" {
					s += " → " + a.To
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Plan actions (-want +got):\n%s", diff)
			}
		})
	}
}
