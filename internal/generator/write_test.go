package generator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// The generator never writes through a symbolic link or into a FIFO found
// in its output directory: a planted one is an error, and what it points
// to is untouched.
func TestWriteRefusesPlantedFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(out, elsewhere string)
		want  string // %s: the output dir
	}{
		{"symlinked wants dir", func(out, elsewhere string) {
			os.Symlink(elsewhere, filepath.Join(out, "local-fs.target.requires"))
		}, "create directory for %s/local-fs.target.requires/nix.mount: %s/local-fs.target.requires is a symbolic link, not a directory: refused"},
		{"symlinked unit", func(out, elsewhere string) {
			os.Mkdir(filepath.Join(out, "local-fs.target.requires"), 0o755)
			os.Symlink(filepath.Join(elsewhere, "x"), filepath.Join(out, "local-fs.target.requires/nix.mount"))
		}, "create %s/local-fs.target.requires/nix.mount: %s/local-fs.target.requires/nix.mount is a symbolic link, not a regular file: refused"},
		{"FIFO unit", func(out, elsewhere string) {
			os.Mkdir(filepath.Join(out, "local-fs.target.requires"), 0o755)
			unix.Mkfifo(filepath.Join(out, "local-fs.target.requires/nix.mount"), 0o644)
		}, "create %s/local-fs.target.requires/nix.mount: %s/local-fs.target.requires/nix.mount is a FIFO, not a regular file: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, elsewhere := t.TempDir(), t.TempDir()
			tc.plant(out, elsewhere)
			err := write([]plan.File{{Path: "local-fs.target.requires/nix.mount", Content: []byte("[Mount]\n")}}, []string{out})
			if want := strings.ReplaceAll(tc.want, "%s", out); err == nil || err.Error() != want {
				t.Errorf("write = %v, want %q", err, want)
			}
			if es, _ := os.ReadDir(elsewhere); len(es) != 0 {
				t.Errorf("written through the symbolic link: %v", es)
			}
		})
	}
}
