// Package demotest runs make demo's script (scripts/demo.sh) and checks
// that it works and that nothing of the host outside its work directory
// changes: the demo's rollback record, state, audit log, locks, textfile
// and /.snapshots mount stay in its own chroot.
package demotest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// hostPaths are the host paths the suite writes or mounts on a server;
// the demo must leave every one of them as it found it.
func hostPaths() []string {
	return []string{
		state.RunDir, state.DefaultDir, filepath.Dir(audit.DefaultPath),
		config.Default().Exporter.TextfileDir, config.SnapshotsMountpoint,
		filepath.Dir(config.DefaultPath),
	}
}

// snapshot describes every file under the host paths (type, mode, size,
// modification time, link target) and the names in /.
func snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range hostPaths() {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				out[p] = "error: " + err.Error()
				return nil
			}
			info, err := d.Info()
			if err != nil {
				out[p] = "error: " + err.Error()
				return nil
			}
			v := fmt.Sprintf("%s %d %s", info.Mode(), info.Size(), info.ModTime().UTC().Format("2006-01-02T15:04:05.000000000"))
			if info.Mode()&fs.ModeSymlink != 0 {
				target, _ := os.Readlink(p)
				v += " -> " + target
			}
			out[p] = v
			return nil
		})
	}
	entries, err := os.ReadDir("/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	out["/ (names)"] = strings.Join(names, " ")
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// build builds the binaries the demo runs into dir.
func build(t *testing.T, root, dir string) {
	t.Helper()
	pkgs := map[string]string{"server-impermanence-generator": "./generator", "impermanence-exporter": "./exporter"}
	helpers, _ := filepath.Glob(filepath.Join(root, "helpers", "*", "main.go"))
	for _, h := range helpers {
		name := filepath.Base(filepath.Dir(h))
		pkgs["impermanence-"+name] = "./helpers/" + name
	}
	for bin, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, bin), pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	var missing []string
	if os.Getuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"go", "mkfs.btrfs", "btrfs", "losetup", "unshare", "chroot", "curl", "systemd-analyze", "lsattr"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		msg := "the demo needs " + strings.Join(missing, ", ") + " (make deps)"
		if os.Getenv("IMPERMANENCE_REQUIRE_TOOLS") != "" && os.Getuid() == 0 {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root := moduleRoot(t)
	bin := t.TempDir()
	build(t, root, bin)
	tmp := t.TempDir()

	before := snapshot(t)
	cmd := exec.Command(filepath.Join(root, "scripts", "demo.sh"))
	cmd.Env = append(os.Environ(), "DEMO_BIN="+bin, "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/demo.sh: %v\n%s", err, out)
	}
	after := snapshot(t)

	for _, want := range []string{
		"@root/scratch.txt: gone\n",
		"archived: old_roots/@root/",
		`impermanence_job_last_result{job_name="rollback",result="success"} 1` + "\n",
		`impermanence_job_last_result{job_name="scrub",result="success"} 1` + "\n",
		// Every collector works without a top-level mount; the archives
		// come from the rollback's inventory.
		`impermanence_archives{subvolume="@root"} 1` + "\n",
		`impermanence_archive_inventory_timestamp_seconds{job_name="rollback"} `,
		// impermanence-status after the real runs: the rollback's resets
		// and archive, every job, and the one problem the demo has (its
		// rollback ran with --default, the configuration names the loop
		// device: the initrd copy is stale), exit 1 for a warning.
		"\nserver-impermanence: 1 problem needs attention (",
		"\nWARNING   The initrd carries an older configuration than /etc",
		"\n  success at this boot, ",
		"\n  @root reset from blank @root-blank",
		"\n  @var-tmp reset from an empty subvolume\n",
		"\n  device errors: none\n  scrub: last complete pass ",
		"\n  /demo/demo.toml: valid; initrd copy: stale\n",
		"\n  units: not read from systemd\nimpermanence-status: exit status 1\n",
		// What the jobs wrote is in the demo's own directories.
		"\nrun/server-impermanence/rollback.json\n",
		"\nvar/lib/server-impermanence/snapshot.json\n",
		"\nvar/log/server-impermanence/audit.jsonl\n",
		"\nno loop device of the demo remains\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the demo's output has no %q", want)
		}
	}
	var collectors []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "impermanence_collector_success{") {
			collectors = append(collectors, l)
		}
	}
	var want []string
	for _, c := range []string{"archives", "blanks", "build", "config", "filesystem", "jobs", "overhead", "scrub", "snapshots"} {
		want = append(want, `impermanence_collector_success{collector="`+c+`"} 1`)
	}
	if diff := cmp.Diff(want, collectors); diff != "" {
		t.Errorf("collectors of the demo's exporter (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("the demo changed the host outside its work directory (-before +after):\n%s\ndemo output:\n%s", diff, out)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left its work directory: %v", left)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	loops, _ := exec.Command("losetup", "-a").Output()
	for what, s := range map[string][]byte{"mount": mounts, "loop device": loops} {
		for _, l := range strings.Split(string(s), "\n") {
			if strings.Contains(l, tmp) {
				t.Errorf("a %s of the demo remains: %s", what, l)
			}
		}
	}
}
