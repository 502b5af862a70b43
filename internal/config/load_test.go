package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const loadBase = "device = \"/dev/disk/by-label/x\"\n[[subvolume]]\nname = \"@persist\"\nmountpoint = \"/persist\"\n"

// TestLoadDropInNames: every drop-in named *.toml must be a regular file
// (a symlink to one is fine) of at most MaxFileSize bytes, anything else
// is an error naming the path (see also files_test.go); hidden names and
// names not ending in .toml are ignored whatever they are.
func TestLoadDropInNames(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) // dir holds config.toml
		want  string                         // error with DIR for dir; "" = loads
	}{
		{"a symlink to a directory in config.d", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "elsewhere"))
			symlink(t, "../elsewhere", filepath.Join(dir, "config.d", "30-link.toml"))
		}, "read config: DIR/config.d/30-link.toml is a directory, not a regular file: refused"},
		{"hidden and other names are ignored, whatever they are", func(t *testing.T, dir string) {
			mkdir(t, filepath.Join(dir, "config.d", ".30-hidden.toml"))
			mkdir(t, filepath.Join(dir, "config.d", "30-dir.toml.d"))
			mkdir(t, filepath.Join(dir, "config.d", "30-dir"))
		}, ""},
		{"a symlink to a regular file is read", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "elsewhere.conf"), "mode = \"io-optimized\"\n")
			symlink(t, "../elsewhere.conf", filepath.Join(dir, "config.d", "10-link.toml"))
		}, ""},
		{"a drop-in one byte above the limit", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "config.d", "10-big.toml"), "#"+strings.Repeat("x", MaxFileSize-2)+"\n\n")
		}, "read config: DIR/config.d/10-big.toml: larger than 1048576 bytes: refused"},
		{"a drop-in at the limit", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "config.d", "10-big.toml"), "#"+strings.Repeat("x", MaxFileSize-2)+"\n")
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "config.toml"), loadBase)
			tt.setup(t, dir)
			_, err := Load(filepath.Join(dir, "config.toml"))
			got := ""
			if err != nil {
				got = strings.ReplaceAll(err.Error(), dir, "DIR")
			}
			if got != tt.want {
				t.Errorf("Load error = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParseRefusesLargeDocuments: Parse (the initrd's copy, the fuzz
// target) applies the same limit as Load.
func TestParseRefusesLargeDocuments(t *testing.T) {
	big := append([]byte("#"), bytes.Repeat([]byte("x"), MaxFileSize)...)
	_, err := Parse(Source{Name: "config.toml", Data: []byte(loadBase)}, Source{Name: "config.d/10-big.toml", Data: big})
	if got, want := errString(err), "config.d/10-big.toml: larger than 1048576 bytes"; got != want {
		t.Errorf("Parse error = %q, want %q", got, want)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p, body string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}
