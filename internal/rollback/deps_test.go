package rollback

import (
	"os/exec"
	"strings"
	"testing"
)

// The rollback runs in the initrd, so impermanence-rollback keeps to the
// boot-path diet (STYLE.md §14): the standard library, golang.org/x/sys,
// go-systemd's journal (pure Go), internal packages, the TOML parser that
// DESIGN.md §4 mandates, and dennwc/btrfs, which internal/btrfs uses for
// FS_INFO, DEV_INFO and GET_DEV_STATS as the foundation issue asks (pure Go,
// its only dependency is dennwc/ioctl). Nothing else: no client_golang, no
// D-Bus.
func TestInitrdHelperDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		"github.com/server-impermanence/server-impermanence/helpers/rollback").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := []string{
		"github.com/server-impermanence/server-impermanence/internal/",
		"github.com/server-impermanence/server-impermanence/helpers/rollback",
		"golang.org/x/sys/",
		"github.com/coreos/go-systemd/v22/journal",
		"github.com/pelletier/go-toml/v2/",
		"github.com/dennwc/btrfs",
		"github.com/dennwc/ioctl",
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(dep, a)
		}
		if !ok {
			t.Errorf("impermanence-rollback depends on %s, which is not allowed in the initrd", dep)
		}
	}
}
