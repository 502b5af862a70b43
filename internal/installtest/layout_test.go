package installtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// firstCellRE matches a Markdown table row whose first cell is one
// backticked path: | `internal/job` | … |
var firstCellRE = regexp.MustCompile("^\\| `([^`]+)` \\|")

// tableRows returns the first cells of the table rows in text that name one
// path, in order.
func tableRows(text string) []string {
	var rows []string
	for _, line := range strings.Split(text, "\n") {
		if m := firstCellRE.FindStringSubmatch(line); m != nil {
			rows = append(rows, m[1])
		}
	}
	return rows
}

// packageDirs lists the directories below internal/ that hold Go files
// (testdata and hidden directories excluded), as "internal/x".
func packageDirs(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			if !slices.Contains(dirs, rel) {
				dirs = append(dirs, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dirs)
	return dirs
}

// topDirs lists the top-level folders that hold tracked files, as "x/".
func topDirs(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	for _, f := range trackedFiles(t, root) {
		if top, _, ok := strings.Cut(f, "/"); ok && !slices.Contains(dirs, top+"/") {
			dirs = append(dirs, strings.Trim(top, `"`)+"/")
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

func TestTableRows(t *testing.T) {
	text := "| folder | holds |\n|---|---|\n| `internal/job` | the shell |\n| `vmtest/` | QEMU |\n" +
		"| `a`, `b` | two in one row |\nnot | `internal/x` | a row\n"
	if diff := cmp.Diff([]string{"internal/job", "vmtest/"}, tableRows(text)); diff != "" {
		t.Errorf("tableRows (-want +got):\n%s", diff)
	}
}

// TestArchitectureNamesEveryFolder checks that docs/architecture.md has a row
// of its own for every package under internal/ and every top-level folder,
// and no row for one that does not exist; and that README.md's layout names
// every one of them too.
func TestArchitectureNamesEveryFolder(t *testing.T) {
	root := moduleRoot(t)
	want := append(topDirs(t, root), packageDirs(t, root)...)
	if len(want) < 40 {
		t.Fatalf("found %d folders and packages (%v); expected the whole tree", len(want), want)
	}
	arch, err := os.ReadFile(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := tableRows(string(arch))
	for _, w := range want {
		if n := strings.Count("\x00"+strings.Join(rows, "\x00")+"\x00", "\x00"+w+"\x00"); n != 1 {
			t.Errorf("docs/architecture.md: %d rows for %s, want exactly one", n, w)
		}
	}
	for _, r := range rows {
		if !slices.Contains(want, r) {
			t.Errorf("docs/architecture.md: row for %s, which is not a top-level folder or a package under internal/", r)
		}
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, _ := strings.Cut(string(readme), "## Layout of the repository")
	layout, _, _ = strings.Cut(layout, "\n## ")
	for _, w := range want {
		if !strings.Contains(layout, "`"+w+"`") {
			t.Errorf("README.md's layout does not name %s", w)
		}
	}
}
