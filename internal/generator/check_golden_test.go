package generator

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// TestCheckGolden pins the whole --check output for the built-in default
// configuration (root stripped) in testdata/check-default.golden; rewrite it
// with -update.
func TestCheckGolden(t *testing.T) {
	for _, tc := range []struct{ golden, config string }{
		{"check-default.golden", string(config.DefaultTOML())},
		// Policies per subvolume: a named policy, a subvolume's own, an
		// unused policy (a warning), the timer's three schedules.
		{"check-policies.golden", readFile(t, "testdata/cases/policies/config.toml")},
	} {
		t.Run(tc.golden, func(t *testing.T) { checkGolden(t, tc.golden, tc.config) })
	}
}

func checkGolden(t *testing.T, golden, cfg string) {
	root := t.TempDir()
	writeFile(t, root, config.DefaultPath, cfg)
	writeFile(t, root, plan.SysctlFile(config.ModeBalanced), "vm.swappiness = 10\n")
	writeFile(t, root, "/proc/sys/vm/swappiness", "60\n")
	writeFile(t, root, "/proc/sys/kernel/osrelease", "6.1.0\n")
	var out, errs bytes.Buffer
	if code := Run([]string{"--check"}, Env{Root: root, Stdout: &out, Stderr: &errs}); code != 0 {
		t.Fatalf("--check: exit %d\n%s%s", code, out.String(), errs.String())
	}
	compareGolden(t, golden, strings.ReplaceAll(out.String()+errs.String(), root, ""))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
