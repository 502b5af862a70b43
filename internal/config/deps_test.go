package config

import (
	"os/exec"
	"strings"
	"testing"
)

// The generator and the initrd rollback load the configuration at boot, so
// this package keeps to the boot-path diet (STYLE.md §14): the standard
// library, internal packages and the TOML parser DESIGN.md §4 mandates.
func TestBootPathDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := []string{
		"github.com/server-impermanence/server-impermanence/internal/",
		"github.com/pelletier/go-toml/v2",
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(dep, a)
		}
		if !ok {
			t.Errorf("internal/config depends on %s, which is not allowed on the boot path", dep)
		}
	}
}
