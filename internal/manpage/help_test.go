package manpage

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// moduleRoot is the folder holding go.mod (two levels up from this package).
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

// Binaries maps each installed binary name to its main package, for every
// main package present in the tree (helpers appear as they are written).
func Binaries(root string) (map[string]string, error) {
	bins := map[string]string{}
	mains, err := filepath.Glob(filepath.Join(root, "helpers", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	for _, m := range mains {
		dir := filepath.Base(filepath.Dir(m))
		bins["impermanence-"+dir] = "./helpers/" + dir
	}
	for name, pkg := range map[string]string{
		"server-impermanence-generator": "./generator",
		"impermanence-exporter":         "./exporter",
	} {
		if _, err := os.Stat(filepath.Join(root, pkg, "main.go")); err == nil {
			bins[name] = pkg
		}
	}
	return bins, nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// helpFlagRE matches the flag lines of Go's flag.PrintDefaults: two spaces,
// one dash, the name.
var helpFlagRE = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)

// TestHelpAgreesWithManPages builds every binary, runs it with --help and
// checks that the OPTIONS section of docs/man/<binary>.8.md lists exactly the
// options --help lists, plus --help itself.
func TestHelpAgreesWithManPages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	root := moduleRoot(t)
	bins, err := Binaries(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) == 0 {
		t.Fatal("no main package found under helpers/, generator/, exporter/")
	}
	names := make([]string, 0, len(bins))
	for n := range bins {
		names = append(names, n)
	}
	sort.Strings(names)
	out := t.TempDir()
	for _, n := range names {
		cmd := exec.Command(goTool(), "build", "-o", filepath.Join(out, n), bins[n])
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", bins[n], err, b)
		}
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(out, n), "--help")
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s --help: %v (must exit 0)\n%s", n, err, b)
			}
			var help []string
			for _, m := range helpFlagRE.FindAllStringSubmatch(string(b), -1) {
				help = append(help, m[1])
			}
			help = append(help, "help")
			src, err := os.ReadFile(filepath.Join(root, "docs", "man", n+".8.md"))
			if err != nil {
				t.Fatalf("man page source of %s: %v (write docs/man/%s.8.md)", n, err, n)
			}
			h, err := ParseHeader(src)
			if err != nil || h.Name != n || h.Section != "8" {
				t.Errorf("docs/man/%s.8.md header = %+v, %v; want %s(8)", n, h, err, n)
			}
			man := Options(src)
			sort.Strings(help)
			sort.Strings(man)
			if diff := cmp.Diff(help, man); diff != "" {
				t.Errorf("options of %s: --help (-) and docs/man/%s.8.md OPTIONS (+) differ:\n%s", n, n, diff)
			}
		})
	}
}

// TestEveryPageRenders renders every source; a page whose binary is not in
// the tree is reported (it is not installed).
func TestEveryPageRenders(t *testing.T) {
	root := moduleRoot(t)
	srcs, err := filepath.Glob(filepath.Join(root, "docs", "man", "*.[1-8].md"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no man page sources: %v", err)
	}
	bins, err := Binaries(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(b)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if want := h.Name + "." + h.Section + ".md"; filepath.Base(s) != want {
			t.Errorf("%s: header names %s(%s), want the file to be %s", s, h.Name, h.Section, want)
		}
		if _, err := Render(b, "test"); err != nil {
			t.Errorf("Render(%s): %v", s, err)
		}
		if h.Section == "8" && bins[h.Name] == "" {
			t.Logf("%s: no main package for %s in this tree (not installed)", s, h.Name)
		}
		if strings.Contains(string(b), "\t") {
			t.Errorf("%s: tab character (indent with spaces)", s)
		}
	}
}
