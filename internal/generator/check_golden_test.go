package generator

import (
	"bytes"
	"strings"
	"testing"

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
	compareGolden(t, "check-default.golden", strings.ReplaceAll(out.String()+errs.String(), root, ""))
}
