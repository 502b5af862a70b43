package job

import (
	"os/exec"
	"strings"
	"testing"
)

// TestJobBinariesLinkNoMetricsStack: the job binaries leave the textfile to
// the exporter (their units' ExecStopPost=), so none of them links the
// Prometheus client, protobuf or D-Bus, and neither does this package, which
// the initrd helper links.
func TestJobBinariesLinkNoMetricsStack(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	const mod = "github.com/server-impermanence/server-impermanence/"
	denied := []string{"github.com/prometheus/", "google.golang.org/protobuf/", "github.com/godbus/", mod + "internal/exporter", mod + "internal/metrics"}
	for _, pkg := range []string{"internal/job", "helpers/diff", "helpers/maintain", "helpers/provision", "helpers/prune",
		"helpers/restore", "helpers/rollback", "helpers/snapshot", "helpers/tune"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, d := range denied {
				if strings.HasPrefix(dep, d) {
					t.Errorf("%s links %s", pkg, dep)
				}
			}
		}
	}
}
