package config

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// loadCase reads testdata/<dir>/<name>.toml and the drop-ins in <name>.d/.
func loadCase(t *testing.T, path string) []Source {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	srcs := []Source{{Name: filepath.ToSlash(path), Data: data}}
	drop, _ := filepath.Glob(strings.TrimSuffix(path, ".toml") + ".d/*.toml")
	sort.Strings(drop)
	for _, d := range drop {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, Source{Name: filepath.ToSlash(d), Data: b})
	}
	return srcs
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestInvalidConfigs checks every rejected configuration in testdata/invalid
// against its expected messages.
func TestInvalidConfigs(t *testing.T) {
	cases, err := filepath.Glob("testdata/invalid/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 25 {
		t.Fatalf("only %d invalid configs in testdata/invalid, want at least 25", len(cases))
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".toml")
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse(loadCase(t, path)...)
			if err == nil {
				t.Fatalf("Parse(%s) accepted an invalid configuration: %+v", path, cfg)
			}
			if cfg != nil {
				t.Errorf("Parse(%s) returned a configuration along with the error", path)
			}
			es, ok := AsErrors(err)
			if !ok {
				t.Fatalf("Parse(%s) error %T is not config.Errors", path, err)
			}
			for _, e := range es {
				if e.Pos.File == "" {
					t.Errorf("error without a file: %v", e)
				}
			}
			checkGolden(t, strings.TrimSuffix(path, ".toml")+".golden", err.Error()+"\n")
		})
	}
}

// TestValidConfigs checks that the examples in testdata/valid are accepted
// and that their effective layout matches the golden dump.
func TestValidConfigs(t *testing.T) {
	cases, _ := filepath.Glob("testdata/valid/*.toml")
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".toml")
		t.Run(name, func(t *testing.T) {
			cfg, err := Parse(loadCase(t, path)...)
			if err != nil {
				t.Fatalf("Parse(%s): %v", path, err)
			}
			checkGolden(t, strings.TrimSuffix(path, ".toml")+".golden", dump(cfg))
		})
	}
}

func dump(c *Config) string {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}
