package installtest

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/install.golden")

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

func needMake(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed (apt-get install make)")
	}
}

func runMake(t *testing.T, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

// listTree returns "mode path" for every file and symlink below dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%04o /%s", info.Mode().Perm(), rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

var helperRE = regexp.MustCompile(`/impermanence-([a-z]+)(\.8)?$`)

// inFlight drops golden lines of helpers whose main package is not in this
// tree yet (DESIGN.md §3 names them; they are written in parallel), so that
// the golden list holds the contract and a checkout without them still passes.
func inFlight(root string, lines []string) []string {
	var out []string
	for _, l := range lines {
		if m := helperRE.FindStringSubmatch(l); m != nil && m[1] != "exporter" {
			if _, err := os.Stat(filepath.Join(root, "helpers", m[1], "main.go")); err != nil {
				continue
			}
		}
		out = append(out, l)
	}
	return out
}

func TestInstallGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	needMake(t)
	root := moduleRoot(t)
	dest := t.TempDir()
	runMake(t, root, "install", "DESTDIR="+dest, "PREFIX=/usr")
	got := listTree(t, dest)

	golden := filepath.Join("testdata", "install.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	want := inFlight(root, strings.Split(strings.TrimSpace(string(b)), "\n"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("make install DESTDIR=%s PREFIX=/usr differs from %s (-want +got; go test ./internal/installtest -run TestInstallGolden -update rewrites it):\n%s", dest, golden, diff)
	}

	// Nothing may be installed under /etc: a configuration enables destructive behaviour.
	for _, l := range got {
		if strings.Contains(l, " /etc/") {
			t.Errorf("make install installed %s: no file belongs in /etc", l)
		}
	}

	// install-list names exactly what install installed.
	var listed []string
	for _, l := range strings.Fields(runMake(t, root, "install-list", "PREFIX=/usr")) {
		listed = append(listed, l)
	}
	var paths []string
	for _, l := range got {
		paths = append(paths, strings.SplitN(l, " ", 2)[1])
	}
	sort.Strings(listed)
	sort.Strings(paths)
	if diff := cmp.Diff(paths, listed); diff != "" {
		t.Errorf("make install-list differs from what make install installed (-installed +listed):\n%s", diff)
	}

	runMake(t, root, "uninstall", "DESTDIR="+dest, "PREFIX=/usr")
	if left := listTree(t, dest); len(left) > 0 {
		t.Errorf("make uninstall left files behind:\n%s", strings.Join(left, "\n"))
	}
	for _, d := range []string{"usr/lib/server-impermanence", "usr/lib/dracut/modules.d/90server-impermanence", "usr/share/doc/server-impermanence"} {
		if _, err := os.Stat(filepath.Join(dest, d)); err == nil {
			t.Errorf("make uninstall left the folder /%s", d)
		}
	}
}
