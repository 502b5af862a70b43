package exporter

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// tool finds a real consumer binary: PATH, then the tools cache that
// scripts/install-tools.sh fills (make test runs it). Without it the test
// skips, unless IMPERMANENCE_REQUIRE_TOOLS is set (make test sets it), so
// the real-consumer tests never silently skip there.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dir := os.Getenv("IMPERMANENCE_TOOLS")
	if dir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "server-impermanence", "tools")
		}
	}
	if p := filepath.Join(dir, name); dir != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := name + " not found in PATH or the tools cache; run make deps tools (scripts/install-deps.sh, scripts/install-tools.sh)"
	if os.Getenv("IMPERMANENCE_REQUIRE_TOOLS") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
