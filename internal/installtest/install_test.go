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

// listTree returns "mode path" for every file and "link path -> target" for
// every symbolic link below dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, fmt.Sprintf("link /%s -> %s", rel, target))
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%04o /%s", info.Mode().Perm(), rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// treePath returns the installed path of a listTree line.
func treePath(line string) string {
	_, p, _ := strings.Cut(line, " ")
	p, _, _ = strings.Cut(p, " -> ")
	return p
}

// The link that puts the generator on PATH, relative to its folder so that it
// resolves below any DESTDIR and PREFIX.
const (
	generatorLink   = "/sbin/server-impermanence-generator"
	generatorTarget = "../lib/systemd/system-generators/server-impermanence-generator"
)

var helperRE = regexp.MustCompile(`/impermanence-([a-z]+)(\.8)?$`)

// inFlight drops golden lines of helpers whose main package is not in this
// tree (the golden list names every helper the package ships), so that
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
		paths = append(paths, treePath(l))
	}
	sort.Strings(listed)
	sort.Strings(paths)
	if diff := cmp.Diff(paths, listed); diff != "" {
		t.Errorf("make install-list differs from what make install installed (-installed +listed):\n%s", diff)
	}

	// Every link is relative and resolves to an installed file inside DESTDIR.
	for _, l := range got {
		if !strings.HasPrefix(l, "link ") {
			continue
		}
		_, target, _ := strings.Cut(l, " -> ")
		if filepath.IsAbs(target) {
			t.Errorf("make install installed %s: the target must be relative", l)
			continue
		}
		if _, err := os.Stat(filepath.Join(dest, treePath(l))); err != nil {
			t.Errorf("make install installed %s, which does not resolve: %v", l, err)
		}
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

// TestInstallGeneratorLink installs with PREFIX=/usr/local: the generator's
// link in $(PREFIX)/sbin is relative and resolves to the generator below the
// same PREFIX, and uninstall removes the link only while it points there.
func TestInstallGeneratorLink(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	needMake(t)
	root := moduleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "generator", "main.go")); err != nil {
		t.Skip("no generator in this tree")
	}
	const prefix = "/usr/local"
	dest := t.TempDir()
	runMake(t, root, "install", "DESTDIR="+dest, "PREFIX="+prefix)
	link := filepath.Join(dest, prefix+generatorLink)
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatalf("make install PREFIX=%s: %v", prefix, err)
	}
	if target != generatorTarget {
		t.Errorf("make install PREFIX=%s: %s -> %s, want -> %s", prefix, prefix+generatorLink, target, generatorTarget)
	}
	gen := filepath.Join(dest, prefix, "lib/systemd/system-generators/server-impermanence-generator")
	li, err := os.Stat(link)
	if err != nil {
		t.Fatalf("the link does not resolve: %v", err)
	}
	gi, err := os.Stat(gen)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(li, gi) {
		t.Errorf("%s does not resolve to %s", link, gen)
	}
	out, err := exec.Command(link, "--version").CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		t.Errorf("%s --version: %v %q", link, err, out)
	}

	// A link the operator pointed elsewhere is not ours: uninstall keeps it.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/opt/elsewhere/server-impermanence-generator", link); err != nil {
		t.Fatal(err)
	}
	runMake(t, root, "uninstall", "DESTDIR="+dest, "PREFIX="+prefix)
	if target, err := os.Readlink(link); err != nil || target != "/opt/elsewhere/server-impermanence-generator" {
		t.Errorf("make uninstall removed or changed a link that was not its own: %q, %v", target, err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if left := listTree(t, dest); len(left) > 0 {
		t.Errorf("make uninstall PREFIX=%s left files behind:\n%s", prefix, strings.Join(left, "\n"))
	}
}
