package generator

import (
	"os/exec"
	"strings"
	"testing"
)

// The generator runs at every boot, in the initrd too: it keeps to the
// boot-path diet (STYLE.md §14). This covers the command and every package
// it pulls in (internal/plan, internal/unitfile, internal/unitname, ...).
func TestBootPathDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		"../../generator").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := []string{
		"github.com/server-impermanence/server-impermanence/",
		"github.com/pelletier/go-toml/v2",
		"golang.org/x/sys/",
		"github.com/coreos/go-systemd/v22/unit",
	}
	for _, dep := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(dep, a)
		}
		if !ok {
			t.Errorf("the generator depends on %s, which is not allowed on the boot path", dep)
		}
	}
}
