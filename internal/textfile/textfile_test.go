package textfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The next writer removes the temporaries a killed one left (this
// version's and the older naming, ".server_impermanence.prom<digits>"),
// and never writes through a symbolic link planted at the file.
func TestWriteFileLeftoversAndSymlink(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for _, n := range []string{".server_impermanence.prom4021958337", ".server_impermanence.prom.tmp-77", "node.prom"} {
		os.WriteFile(filepath.Join(dir, n), []byte("partial"), 0o644)
		os.Chtimes(filepath.Join(dir, n), old, old)
	}
	if err := WriteFile(filepath.Join(dir, Name), []byte("x 1\n")); err != nil {
		t.Fatal(err)
	}
	var names []string
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"node.prom", Name}, names); diff != "" {
		t.Errorf("textfile directory (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, Name)); string(b) != "x 1\n" {
		t.Errorf("content %q", b)
	}

	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("precious\n"), 0o644)
	link := filepath.Join(t.TempDir(), Name)
	os.Symlink(target, link)
	err := WriteFile(link, []byte("x 1\n"))
	if want := "write textfile metrics: " + link + " is a symbolic link, not a regular file: refused"; err == nil || err.Error() != want {
		t.Errorf("WriteFile over a symbolic link = %v, want %q", err, want)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("target changed: %q", b)
	}
}
