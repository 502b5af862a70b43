package generator

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// FuzzGenerate runs the whole generator on random configurations, in the
// host and in the initrd: it never panics, and it emits the setup
// (rollback) unit only for a configuration that loads and validates.
func FuzzGenerate(f *testing.F) {
	cases, _ := filepath.Glob("testdata/cases/*/config.toml")
	for _, c := range cases {
		data, _ := os.ReadFile(c)
		f.Add(data, true, "")
		f.Add(data, false, "server-impermanence.rollback=0")
	}
	f.Add(config.DefaultTOML(), true, "resume=UUID=x")
	f.Fuzz(func(t *testing.T, data []byte, initrd bool, cmdline string) {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "etc/server-impermanence"), 0o755)
		os.MkdirAll(filepath.Join(root, "proc"), 0o755)
		cfgPath := filepath.Join(root, "etc/server-impermanence/config.toml")
		os.WriteFile(cfgPath, data, 0o644)
		os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte(cmdline), 0o644)
		if initrd {
			os.WriteFile(filepath.Join(root, "etc/initrd-release"), nil, 0o644)
		}
		out := t.TempDir()
		var buf bytes.Buffer
		code := Run([]string{out}, Env{Root: root, Stdout: &buf, Stderr: &buf})
		_, loadErr := config.Load(cfgPath)
		var setup bool
		filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.Contains(p, plan.SetupService) {
				setup = true
			}
			return nil
		})
		if setup && (loadErr != nil || code != 0 || !initrd) {
			t.Fatalf("setup unit emitted: exit %d, load error %v, initrd %v", code, loadErr, initrd)
		}
		if loadErr != nil && code == 0 {
			t.Fatalf("invalid configuration but exit 0: %v", loadErr)
		}
		if code == 0 && initrd && loadErr == nil && !setup { // also with the switch: the helper logs the skip
			t.Fatalf("valid configuration in the initrd without the setup unit")
		}
	})
}
