package manpage

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// manWarnings formats a roff page the way lintian checks man pages and
// returns what man and groff print on stderr (nothing for a clean page).
func manWarnings(t *testing.T, page string) string {
	t.Helper()
	man, err := exec.LookPath("man")
	if err != nil {
		msg := "man not found (Debian package man-db; make deps installs it)"
		if os.Getenv("IMPERMANENCE_REQUIRE_TOOLS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(man, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", page)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man -l %s: %v\n%s", page, err, stderr.Bytes())
	}
	return stderr.String()
}

// TestManWarnings renders every page and checks that man --warnings (as
// lintian runs it) prints nothing.
func TestManWarnings(t *testing.T) {
	root := moduleRoot(t)
	srcs, err := filepath.Glob(filepath.Join(root, "docs", "man", "*.[1-8].md"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no man page sources: %v", err)
	}
	srcs = append(srcs, filepath.Join("testdata", "sample.1.md"))
	dir := t.TempDir()
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		h, err := ParseHeader(b)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		roff, err := Render(b, "test")
		if err != nil {
			t.Fatalf("Render(%s): %v", s, err)
		}
		page := filepath.Join(dir, h.Name+"."+h.Section)
		if err := os.WriteFile(page, roff, 0o644); err != nil {
			t.Fatal(err)
		}
		if w := manWarnings(t, page); w != "" {
			t.Errorf("man --warnings on %s(%s) rendered from %s:\n%s", h.Name, h.Section, s, w)
		}
	}
}

// TestManWarningsSeesWarnings checks that the check above can fail: an
// undefined macro is reported.
func TestManWarningsSeesWarnings(t *testing.T) {
	page := filepath.Join(t.TempDir(), "bad.1")
	if err := os.WriteFile(page, []byte(".TH BAD 1\n.SH NAME\nbad \\- a page\n.NOSUCHMACRO\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if w := manWarnings(t, page); !bytes.Contains([]byte(w), []byte("NOSUCHMACRO")) {
		t.Errorf("man --warnings on a page with an undefined macro printed %q, want a warning naming it", w)
	}
}
