package generator

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// TestCheckGolden pins the whole --check output for the built-in default
// configuration (root stripped) in testdata/check-default.golden; rewrite it
// with -update.
func TestCheckGolden(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, config.DefaultPath, string(config.DefaultTOML()))
	writeFile(t, root, plan.SysctlFile(config.ModeBalanced), "vm.swappiness = 10\n")
	writeFile(t, root, "/proc/sys/vm/swappiness", "60\n")
	writeFile(t, root, "/proc/sys/kernel/osrelease", "6.1.0\n")
	var out, errs bytes.Buffer
	if code := Run([]string{"--check"}, Env{Root: root, Stdout: &out, Stderr: &errs}); code != 0 {
		t.Fatalf("--check: exit %d\n%s%s", code, out.String(), errs.String())
	}
	got := strings.ReplaceAll(out.String()+errs.String(), root, "")
	golden := filepath.Join("testdata", "check-default.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("--check (-want +got):\n%s", diff)
	}
}
