package installtest

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// externalRefRE matches a citation of a document outside the repository: the
// design document and the reference folder the project was written from,
// "the specification" as if it were one, and the issue tracker (an issue
// number, "the issue"). This file, which must name them, is the one exception
// (guardFile).
var externalRefRE = regexp.MustCompile(`(?i)` + strings.Join([]string{
	`DESIGN(\.md| §)`,
	`\.\./shared\b`,
	`/work/shared\b`,
	`\bthe specification\b`,
	`\bspecification's\b`,
	`\bissues? #?[0-9]+`,
	`\bthe issue\b`,
}, "|"))

// guardFile is this file, the one tracked file allowed to hold the patterns.
const guardFile = "internal/installtest/selfcontained_test.go"

func TestExternalRefRE(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"see " + "DESIGN" + ".md §4", true},
		{"(" + "DESIGN" + " §7)", true},
		{"copied from .." + "/shared/reference", true},
		{"/work" + "/shared/seed/x", true},
		{"as the " + "specification says", true},
		{"the " + "Specification's layout", true},
		{"snapshot automation (" + "issue 5)", true},
		{"beyond the " + "issue's eight", true},
		{"Failed to parse calendar specification", false},
		{"a known issue of btrfs-progs", false},
		{"design of the archive", false},
		{"internal/shared/names.go", false},
		{"/usr/share/doc/server-impermanence", false},
	} {
		if got := externalRefRE.MatchString(tc.line); got != tc.want {
			t.Errorf("externalRefRE.MatchString(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

// TestSelfContained checks that no tracked text file cites a document outside
// the repository: docs, comments, default config, output and man pages state
// the project's own requirements and their reasons.
func TestSelfContained(t *testing.T) {
	root := moduleRoot(t)
	for _, f := range trackedFiles(t, root) {
		if f == guardFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet committed
			}
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			continue // binary
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := externalRefRE.FindString(line); m != "" {
				t.Errorf("%s:%d cites %q, outside the repository: state the requirement and its reason instead", f, i+1, m)
			}
		}
	}
}
