package depstest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const mod = "github.com/server-impermanence/server-impermanence"

// in returns the import paths of module packages.
func in(pkgs ...string) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = mod + "/" + p
	}
	return out
}

var (
	// hostJobs are the commands that run on the booted host.
	hostJobs = in("internal/snapshot", "internal/prune", "internal/maintain", "internal/restore",
		"internal/provision", "internal/diff", "internal/tune", "internal/send", "internal/receive")
	// metricsStack is what the exporter links and nothing else may but
	// impermanence-status, which reads through the exporter's collectors.
	metricsStack = append(in("internal/exporter", "internal/metrics", "internal/systemdbus"),
		"github.com/prometheus/client_golang", "github.com/prometheus/client_model", "github.com/prometheus/common",
		"google.golang.org/protobuf", "github.com/godbus/dbus",
		// exporter-toolkit (TLS, basic auth) and what it brings.
		"github.com/prometheus/exporter-toolkit", "golang.org/x/crypto", "github.com/mdlayher",
		"go.yaml.in/yaml", "golang.org/x/time", "golang.org/x/sync", "golang.org/x/net", "golang.org/x/oauth2",
		"github.com/golang-jwt", "github.com/mwitkow")
	// bootPath is what the generator and the initrd helper may link besides
	// the standard library and internal/.
	bootPath = []string{"golang.org/x/sys", "github.com/pelletier/go-toml/v2"}
	// rollbackAllowed is what the initrd helper may link: the boot path,
	// go-systemd's journal (pure Go) and dennwc/btrfs (FS_INFO, DEV_INFO,
	// GET_DEV_STATS; pure Go, its only dependency is dennwc/ioctl).
	rollbackAllowed = slices.Concat(in("internal", "helpers/rollback"), bootPath,
		[]string{"github.com/coreos/go-systemd/v22/journal", "github.com/dennwc/btrfs", "github.com/dennwc/ioctl"})
	// rollbackDenied are the packages the initrd helper must not link.
	rollbackDenied = slices.Concat(hostJobs, metricsStack)
)

// rule is one row: the dependencies of pkg (go list -deps, without the
// standard library) must each be under an allowed prefix (any, when allowed
// is nil) and under no denied one.
type rule struct {
	pkg     string
	allowed []string
	denied  []string
}

var rules = []rule{
	// The configuration is loaded at boot: the boot path (x/sys through
	// internal/safefile, which opens its files).
	{pkg: mod + "/internal/config", allowed: append(in("internal"), bootPath...)},
	{pkg: mod + "/generator", allowed: append(in("internal"), bootPath...),
		denied: slices.Concat(hostJobs, metricsStack, in("internal/job", "internal/rollback"))},
	// The initrd helper; internal/job, the shared command shell, is allowed.
	{pkg: mod + "/helpers/rollback", allowed: rollbackAllowed, denied: rollbackDenied},
	{pkg: mod + "/internal/rollback", allowed: rollbackAllowed, denied: rollbackDenied},
	// The blank history and choice: the rollback links it, so what the
	// rollback may link, and no command.
	{pkg: mod + "/internal/blanks", allowed: rollbackAllowed,
		denied: slices.Concat(hostJobs, metricsStack, in("internal/job", "internal/rollback"))},
	// The shared shell links no command and nothing of the metrics stack.
	{pkg: mod + "/internal/job", denied: slices.Concat(hostJobs, metricsStack, in("internal/rollback"))},
	// The host jobs: no rollback, no metrics stack (the units refresh the
	// textfile with impermanence-exporter --textfile).
	{pkg: mod + "/helpers/snapshot", denied: slices.Concat(metricsStack, in("internal/rollback"))},
	{pkg: mod + "/helpers/prune", denied: slices.Concat(metricsStack, in("internal/rollback"))},
	{pkg: mod + "/helpers/maintain", denied: slices.Concat(metricsStack, in("internal/rollback"))},
	{pkg: mod + "/helpers/restore", denied: slices.Concat(metricsStack, in("internal/rollback"))},
	{pkg: mod + "/helpers/provision", denied: slices.Concat(metricsStack, in("internal/rollback"))},
	{pkg: mod + "/helpers/diff", denied: slices.Concat(metricsStack, in("internal/rollback"))},
	{pkg: mod + "/helpers/tune", denied: slices.Concat(metricsStack, in("internal/rollback"))},
	// send encrypts stream targets with age, which uses x/crypto's
	// ChaCha20-Poly1305, X25519, HKDF and scrypt: those, not the rest of
	// the metrics stack.
	{pkg: mod + "/helpers/send", denied: slices.Concat(slices.DeleteFunc(slices.Clone(metricsStack), func(p string) bool { return p == "golang.org/x/crypto" }),
		[]string{"golang.org/x/crypto/ssh", "golang.org/x/crypto/bcrypt", "golang.org/x/crypto/acme"}, in("internal/rollback"))},
	// The far end of an SSH target links no other command either.
	{pkg: mod + "/helpers/receive", denied: slices.Concat(metricsStack, in("internal/rollback", "internal/send", "internal/snapshot", "internal/prune"))},
	{pkg: mod + "/exporter", denied: slices.Concat(hostJobs, in("internal/rollback"))},
	// impermanence-notify: D-Bus (internal/systemdbus) to read the failed
	// unit, nothing of the metrics or a job.
	{pkg: mod + "/helpers/notify", denied: slices.Concat(hostJobs, in("internal/rollback", "internal/exporter", "internal/metrics"),
		[]string{"github.com/prometheus", "google.golang.org/protobuf"})},
	// impermanence-status reads and mounts nothing: no job, no rollback,
	// no HTTP server of the exporter (exporter-toolkit).
	{pkg: mod + "/helpers/status", denied: slices.Concat(hostJobs, in("internal/rollback", "internal/exporter"),
		[]string{"github.com/prometheus/exporter-toolkit"})},
}

// under reports whether the import path p is prefix or below it.
func under(p, prefix string) bool {
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// violations returns what deps breaks of r.
func violations(r rule, deps []string) []string {
	var out []string
	for _, d := range deps {
		if r.allowed != nil && !slices.ContainsFunc(r.allowed, func(a string) bool { return under(d, a) }) {
			out = append(out, d+" (not allowed)")
		}
		if slices.ContainsFunc(r.denied, func(a string) bool { return under(d, a) }) {
			out = append(out, d+" (denied)")
		}
	}
	return out
}

func TestViolations(t *testing.T) {
	r := rule{pkg: "p", allowed: []string{mod + "/internal", "golang.org/x/sys"}, denied: in("internal/restore")}
	deps := []string{mod + "/internal/restorereq", mod + "/internal/restore", mod + "/internal/restore/x",
		"golang.org/x/sys/unix", "golang.org/x/sysfoo", "github.com/godbus/dbus/v5"}
	want := []string{mod + "/internal/restore (denied)", mod + "/internal/restore/x (denied)",
		"golang.org/x/sysfoo (not allowed)", "github.com/godbus/dbus/v5 (not allowed)"}
	if diff := cmp.Diff(want, violations(r, deps)); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

// TestDependencies checks every row with one go list. The module packages
// a row denies must exist (a renamed package would make the row vacuous).
func TestDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	args := []string{"list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}"}
	exist := map[string]bool{}
	for _, r := range rules {
		args = append(args, r.pkg)
		for _, d := range r.denied {
			if under(d, mod) && !exist[d] {
				exist[d] = true
				args = append(args, d)
			}
		}
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = slices.DeleteFunc(f[1:], standard)
	}
	for _, r := range rules {
		ds, ok := deps[r.pkg]
		if !ok {
			t.Errorf("go list did not list %s", r.pkg)
		}
		for _, v := range violations(r, ds) {
			t.Errorf("%s depends on %s", strings.TrimPrefix(r.pkg, mod+"/"), v)
		}
	}
}

// standard reports whether p is in the standard library: its first element
// has no dot (as cmd/go decides), or it is vendored into it.
func standard(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".") || strings.HasPrefix(p, "vendor/")
}
