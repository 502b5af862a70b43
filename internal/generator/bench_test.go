package generator

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// BenchmarkGenerateDefault runs the generator in process on the default
// configuration into fresh output dirs: its own cost, without the process
// start that make bench (scripts/bench.sh) also counts.
func BenchmarkGenerateDefault(b *testing.B) {
	root := b.TempDir()
	etc := filepath.Join(root, "etc/server-impermanence")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "config.toml"), config.DefaultTOML(), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("root=LABEL=server\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		d := filepath.Join(out, strconv.Itoa(i))
		dirs := []string{d + "/n", d + "/e", d + "/l"}
		for _, x := range dirs {
			os.MkdirAll(x, 0o755)
		}
		if code := Run(dirs, Env{Root: root, Stdout: io.Discard, Stderr: io.Discard}); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
