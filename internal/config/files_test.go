package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The configuration and its drop-ins must be regular files (a symbolic link
// to one is fine): a FIFO never blocks the load, a directory or a device is
// an error naming the path, as the main file and as a drop-in.
func TestLoadRefusesNonRegularFiles(t *testing.T) {
	const body = "device = \"/dev/disk/by-label/x\"\n[[subvolume]]\nname = \"@persist\"\nmountpoint = \"/persist\"\n"
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, dir string) string // returns the hostile path
		want  string                                // the error; %s is the hostile path
	}{
		{"main FIFO", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.toml")
			unix.Mkfifo(p, 0o644)
			return p
		}, "read config: %s is a FIFO, not a regular file: refused"},
		{"main directory", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.toml")
			os.Mkdir(p, 0o755)
			return p
		}, "read config: %s is a directory, not a regular file: refused"},
		{"main device", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.toml")
			os.Symlink("/dev/null", p)
			return p
		}, "read config: %s is a character device, not a regular file: refused"},
		{"main too large", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "config.toml")
			os.WriteFile(p, make([]byte, MaxFileSize+1), 0o644)
			return p
		}, "read config: %s: larger than 1048576 bytes: refused"},
		{"drop-in FIFO", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "config.toml"), []byte(body), 0o644)
			p := filepath.Join(dir, "config.d/10-fifo.toml")
			os.Mkdir(filepath.Dir(p), 0o755)
			unix.Mkfifo(p, 0o644)
			return p
		}, "read config: %s is a FIFO, not a regular file: refused"},
		{"drop-in directory", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "config.toml"), []byte(body), 0o644)
			p := filepath.Join(dir, "config.d/10-dir.toml")
			os.MkdirAll(p, 0o755)
			return p
		}, "read config: %s is a directory, not a regular file: refused"},
		{"drop-in symlink to a FIFO", func(t *testing.T, dir string) string {
			os.WriteFile(filepath.Join(dir, "config.toml"), []byte(body), 0o644)
			unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644)
			p := filepath.Join(dir, "config.d/10-link.toml")
			os.Mkdir(filepath.Dir(p), 0o755)
			os.Symlink(filepath.Join(dir, "fifo"), p)
			return p
		}, "read config: %s is a FIFO, not a regular file: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := tc.plant(t, dir)
			done := make(chan error, 1)
			go func() { _, err := Load(filepath.Join(dir, "config.toml")); done <- err }()
			select {
			case err := <-done:
				if w := strings.ReplaceAll(tc.want, "%s", p); err == nil || err.Error() != w {
					t.Errorf("Load = %v, want %q", err, w)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Load blocked for 5 s")
			}
		})
	}
}

// A symbolic link to a regular file is the administrator's choice: read.
func TestLoadFollowsSymlinkToRegularFile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.toml")
	os.WriteFile(real, []byte("device = \"/dev/disk/by-label/x\"\nmode = \"io-optimized\"\n[[subvolume]]\nname = \"@persist\"\nmountpoint = \"/persist\"\n"), 0o644)
	os.Symlink(real, filepath.Join(dir, "config.toml"))
	c, err := Load(filepath.Join(dir, "config.toml"))
	if err != nil || c.Mode != ModeIOOptimized {
		t.Errorf("Load through a symbolic link = %v, %v; want mode io-optimized", c, err)
	}
}
