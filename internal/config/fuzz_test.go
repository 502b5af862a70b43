package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary main files and drop-ins to Parse. It must never
// panic, and a configuration it accepts must satisfy the invariants the
// rest of the project relies on.
func FuzzParse(f *testing.F) {
	f.Add(defaultTOML, []byte(""))
	seeds, _ := filepath.Glob("testdata/*/*.toml")
	drop, _ := filepath.Glob("testdata/*/*.d/*.toml")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b, []byte("mode = \"io-optimized\"\n"))
	}
	for _, d := range drop {
		b, _ := os.ReadFile(d)
		f.Add(defaultTOML, b)
	}
	f.Fuzz(func(t *testing.T, main, dropin []byte) {
		cfg, err := Parse(Source{Name: "config.toml", Data: main}, Source{Name: "config.d/10.toml", Data: dropin})
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned a configuration with an error")
			}
			es, ok := AsErrors(err)
			if !ok || len(es) == 0 {
				t.Fatalf("Parse error %T %v is not a non-empty config.Errors", err, err)
			}
			return
		}
		mounts := map[string]bool{}
		for _, s := range cfg.Subvolumes {
			if msg := checkRelPath(s.Name); msg != "" {
				t.Fatalf("accepted subvolume name %s", msg)
			}
			if msg := checkAbsPath(s.Mountpoint); msg != "" {
				t.Fatalf("accepted mountpoint %s", msg)
			}
			if mounts[s.Mountpoint] {
				t.Fatalf("accepted mountpoint %q twice", s.Mountpoint)
			}
			mounts[s.Mountpoint] = true
			if !s.CoW && s.Compression != "" && s.Compression != "none" {
				t.Fatalf("accepted compression %q on NoCoW %q", s.Compression, s.Name)
			}
			if s.Class == Ephemeral && (s.Name == cfg.Persist.Subvolume || s.Name == cfg.Snapshots.Dir) {
				t.Fatalf("accepted ephemeral %q", s.Name)
			}
		}
		for _, p := range append(cfg.Persist.Directories, cfg.Persist.Files...) {
			if msg := checkAbsPath(p.Path); msg != "" || p.Path == "/" {
				t.Fatalf("accepted persisted path %q: %s", p.Path, msg)
			}
		}
	})
}

func BenchmarkLoadDefault(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, defaultTOML, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(Source{Name: "config.toml", Data: defaultTOML}); err != nil {
			b.Fatal(err)
		}
	}
}
