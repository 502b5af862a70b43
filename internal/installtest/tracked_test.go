package installtest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// trackedFiles lists the files git tracks in the repository (skips when
// git or the repository is not there, as in an unpacked source package).
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not a git checkout")
	}
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 100 {
		t.Fatalf("git ls-files listed %d files; expected the whole tree", len(files))
	}
	return files
}

// buildOutput says why a tracked path is build output, or "" when it is not:
// the build directories, test binaries and packages, and any ELF file.
func buildOutput(path string, head []byte) string {
	for _, dir := range []string{"bin/", "debian/.gocache/", "debian/server-impermanence/", "debian/.debhelper/"} {
		if strings.HasPrefix(path, dir) {
			return "under " + dir
		}
	}
	for _, ext := range []string{".test", ".deb", ".o", ".a", ".so"} {
		if strings.HasSuffix(path, ext) {
			return "a " + ext + " file"
		}
	}
	if bytes.HasPrefix(head, []byte("\x7fELF")) {
		return "an ELF binary"
	}
	return ""
}

func TestBuildOutput(t *testing.T) {
	for _, tc := range []struct {
		path string
		head string
		want string
	}{
		{"bin/impermanence-rollback", "#!/bin/sh", "under bin/"},
		{"internal/maintain/maintain", "\x7fELF\x02\x01", "an ELF binary"},
		{"internal/maintain/maintain.test", "", "a .test file"},
		{"server-impermanence_1.0_amd64.deb", "!<arch>", "a .deb file"},
		{"debian/.gocache/README", "", "under debian/.gocache/"},
		{"internal/btrfs/testdata/image.bin", "\x00\x00", ""},
		{"internal/binfmt/elf.go", "package binfmt", ""},
		{"scripts/demo.sh", "#!/bin/sh", ""},
	} {
		if got := buildOutput(tc.path, []byte(tc.head)); got != tc.want {
			t.Errorf("buildOutput(%q, %q) = %q, want %q", tc.path, tc.head, got, tc.want)
		}
	}
}

// TestNoBuildOutputTracked checks that git tracks no compiled binary or build
// output (a 5.7 MB test binary was once committed by accident).
func TestNoBuildOutputTracked(t *testing.T) {
	root := moduleRoot(t)
	for _, f := range trackedFiles(t, root) {
		head := make([]byte, 4)
		if fh, err := os.Open(filepath.Join(root, f)); err == nil {
			n, _ := io.ReadFull(fh, head)
			head = head[:n]
			fh.Close()
		}
		if why := buildOutput(f, head); why != "" {
			t.Errorf("git tracks %s, %s (build output; remove it with git rm --cached)", f, why)
		}
	}
}
