package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/state"
)

func TestDefaultIsTheSpecificationLayout(t *testing.T) {
	c := Default()
	type row struct {
		Name, Mountpoint string
		Class            Class
		Compression      string
		CoW, Snapshot    bool
		Blank            string
		Archive          bool
	}
	var got []row
	for _, s := range c.Subvolumes {
		got = append(got, row{s.Name, s.Mountpoint, s.Class, s.Compression, s.CoW, s.Snapshot, s.Blank, s.Archive})
	}
	want := []row{
		{"@root", "/", Ephemeral, "zstd", true, false, "@root-blank", true},
		{"@var-cache", "/var/cache", Ephemeral, "zstd", true, false, "", false},
		{"@var-tmp", "/var/tmp", Ephemeral, "none", false, false, "", false},
		{"@nix", "/nix", Permanent, "zstd", true, false, "", false},
		{"@persist", "/persist", Permanent, "zstd", true, true, "", false},
		{"@var-log", "/var/log", Permanent, "zstd", true, true, "", false},
		{"@var-lib-services", "/var/lib/services", Permanent, "zstd", true, true, "", false},
		{"@var-lib-caddy", "/var/lib/caddy", Permanent, "zstd", true, true, "", false},
		{"@var-backup", "/var/backup", Permanent, "zstd", true, false, "", false},
		{"@var-lib-containers", "/var/lib/containers", Permanent, "none", false, false, "", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Default() subvolumes (-want +got):\n%s", diff)
	}
	if c.Snapshots.Dir != "@snapshots" || c.Archive.Dir != "old_roots" || c.Persist.Subvolume != "@persist" {
		t.Errorf("Default() snapshots %q, archive %q, persist %q; want @snapshots, old_roots, @persist",
			c.Snapshots.Dir, c.Archive.Dir, c.Persist.Subvolume)
	}
	wantRet := Retention{Hourly: 24, Daily: 7, Weekly: 4, Monthly: 12, KeepMin: 1, MinAge: 30 * time.Minute}
	if c.Snapshots.Retention != wantRet {
		t.Errorf("Default() retention = %+v, want %+v", c.Snapshots.Retention, wantRet)
	}
}

// Every key the default document leaves out must equal the per-key default,
// so that the document and keyDefaults cannot drift apart.
func TestDefaultDocumentMatchesKeyDefaults(t *testing.T) {
	minimal := []byte("device = \"/dev/disk/by-label/server\"\n" +
		"[[subvolume]]\nname = \"@root\"\nmountpoint = \"/\"\nclass = \"ephemeral\"\nblank = \"@root-blank\"\n" +
		"[[subvolume]]\nname = \"@persist\"\nmountpoint = \"/persist\"\n")
	c, err := Parse(Source{Name: "minimal.toml", Data: minimal})
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if diff := cmp.Diff(d.Snapshots, c.Snapshots); diff != "" {
		t.Errorf("snapshots defaults differ from the default document (-doc +keyDefaults):\n%s", diff)
	}
	for _, pair := range []struct{ a, b any }{
		{d.Archive, c.Archive}, {d.Cleanup, c.Cleanup}, {d.Maintenance, c.Maintenance},
		{d.Exporter, c.Exporter}, {d.Mode, c.Mode},
	} {
		if diff := cmp.Diff(pair.a, pair.b); diff != "" {
			t.Errorf("defaults differ from the default document (-doc +keyDefaults):\n%s", diff)
		}
	}
}

func TestDropInsMerge(t *testing.T) {
	c, err := Parse(loadCase(t, "testdata/valid/dropins.toml")...)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeSpaceOptimized {
		t.Errorf("mode = %q, want the later drop-in's space-optimized", c.Mode)
	}
	if c.Snapshots.Retention.Hourly != 48 || c.Snapshots.Retention.Daily != 7 {
		t.Errorf("retention = %+v, want hourly 48 from the drop-in and daily 7 by default", c.Snapshots.Retention)
	}
	nix, _ := c.Subvolume("@nix")
	if nix.Compression != "lzo" || nix.Mountpoint != "/nix" {
		t.Errorf("@nix = %+v, want compression lzo from the drop-in and mountpoint /nix from the main file", nix)
	}
	var names []string
	for _, s := range c.Subvolumes {
		names = append(names, s.Name)
	}
	if diff := cmp.Diff([]string{"@root", "@persist", "@nix", "@var-lib-postgresql"}, names); diff != "" {
		t.Errorf("subvolume order (-want +got):\n%s", diff)
	}
	wantDirs := []PersistPath{{Path: "/etc/ssh"}, {Path: "/var/lib/postgresql-conf", User: "postgres", Group: "postgres", Mode: "0700"},
		{Path: state.DefaultDir, User: "root", Group: "root", Mode: "0755", Implicit: true}}
	if diff := cmp.Diff(wantDirs, c.Persist.Directories); diff != "" {
		t.Errorf("persisted directories (-want +got):\n%s", diff)
	}
	o := c.Origin(`subvolume["@nix"].compression`)
	if !strings.HasSuffix(o.File, "20-tuning.toml") || o.Line != 10 {
		t.Errorf("Origin(@nix compression) = %v, want 20-tuning.toml line 10", o)
	}
}

func TestLoadReadsDropInsInLexicalOrder(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "config.toml")
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("config.toml", "device = \"/dev/disk/by-label/x\"\n[[subvolume]]\nname = \"@persist\"\nmountpoint = \"/persist\"\n")
	write("config.d/20-b.toml", "mode = \"space-optimized\"\n")
	write("config.d/10-a.toml", "mode = \"io-optimized\"\n")
	write("config.d/.30-hidden.toml", "mode = \"broken\"\n")
	write("config.d/40-c.toml.dpkg-old", "mode = \"broken\"\n")
	c, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeSpaceOptimized {
		t.Errorf("mode = %q, want space-optimized from 20-b.toml (read after 10-a.toml)", c.Mode)
	}
	want := []string{main, filepath.Join(dir, "config.d/10-a.toml"), filepath.Join(dir, "config.d/20-b.toml")}
	if diff := cmp.Diff(want, c.Files); diff != "" {
		t.Errorf("Files (-want +got):\n%s", diff)
	}
}

func TestLoadWithoutConfig(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "config.toml"))
	if !errors.Is(err, ErrNoConfig) {
		t.Errorf("Load(missing) error = %v, want ErrNoConfig", err)
	}
}

func TestErrorsNamePositionAndKey(t *testing.T) {
	doc := "device = \"/dev/disk/by-label/x\"\n" +
		"[archive]\n" +
		"keep_dayly = 7\n" +
		"keep_min = \"three\"\n" +
		"[[subvolume]]\nname = \"@persist\"\nmountpoint = \"/persist\"\n"
	_, err := Parse(Source{Name: "/etc/server-impermanence/config.toml", Data: []byte(doc)})
	es, ok := AsErrors(err)
	if !ok {
		t.Fatalf("Parse error = %v, want config.Errors", err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Error())
	}
	want := []string{
		`/etc/server-impermanence/config.toml:3:1: archive.keep_dayly: unknown key "keep_dayly" in [archive]; did you mean "keep_days"? (known keys: dir, keep_days, keep_min)`,
		`/etc/server-impermanence/config.toml:4:1: archive.keep_min: expected an integer, got a string`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestStateDirPersistedAutomatically(t *testing.T) {
	base := "device = \"/dev/disk/by-label/x\"\n" +
		"[[subvolume]]\nname = \"@root\"\nmountpoint = \"/\"\nclass = \"ephemeral\"\nblank = \"@root-blank\"\n"
	persist := "[[subvolume]]\nname = \"@persist\"\nmountpoint = \"/persist\"\n"
	tests := []struct {
		name, doc string
		want      bool
	}{
		{"on the ephemeral root", base + persist, true},
		{"already persisted by a parent", base + persist + "[persist]\ndirectories = [\"/var/lib\"]\n", false},
		{"on a permanent /var/lib", base + persist + "[[subvolume]]\nname = \"@var-lib\"\nmountpoint = \"/var/lib\"\n", false},
		{"on a permanent subvolume at the path", base + persist + "[[subvolume]]\nname = \"@state\"\nmountpoint = \"/var/lib/server-impermanence\"\n", false},
		{"no persist subvolume", base, false},
	}
	for _, tt := range tests {
		c, err := Parse(Source{Name: "config.toml", Data: []byte(tt.doc)})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := false
		for _, d := range c.Persist.Directories {
			if d.Path == state.DefaultDir {
				got = d.Implicit
			}
		}
		if got != tt.want {
			t.Errorf("%s: %s implicitly persisted = %t, want %t", tt.name, state.DefaultDir, got, tt.want)
		}
	}
	if !slices.ContainsFunc(Default().Persist.Directories, func(p PersistPath) bool { return p.Path == state.DefaultDir }) {
		t.Errorf("Default() does not persist %s", state.DefaultDir)
	}
}
