package tune_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/plan"
	"github.com/server-impermanence/server-impermanence/internal/tune"
)

// TestTuneRealBtrfs runs impermanence-tune on a real btrfs with two
// subvolumes mounted at their mountpoints, one reachable only through the
// top-level mount and one whose mountpoint holds another subvolume, and
// checks the result with btrfs-progs and lsattr.
func TestTuneRealBtrfs(t *testing.T) {
	tfs := btrfstest.New(t)
	fsys, err := btrfs.Open(tfs.Mount)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	for _, s := range []string{"@persist", "@var-tmp", "@unmounted", "@wrong", "@other"} {
		if err := fsys.CreateSubvolume(s); err != nil {
			t.Fatal(err)
		}
	}
	// NoCoW on a subvolume that already holds data, as chattr +C allowed.
	if err := os.WriteFile(filepath.Join(tfs.Mount, "@var-tmp/old"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	persist := tfs.MountSubvol(t, "@persist")
	varTmp := tfs.MountSubvol(t, "@var-tmp")
	unmounted := filepath.Join(tfs.Mount, "@unmounted") // its root, but not a mount of it
	other := tfs.MountSubvol(t, "@other")               // configured as @wrong's mountpoint

	cfg := filepath.Join(t.TempDir(), "config.toml")
	writeConfig(t, cfg, tfs.Device, [][4]string{
		{"@persist", persist, "zstd", "true"},
		{"@var-tmp", varTmp, "none", "false"},
		{"@unmounted", unmounted, "lzo", "true"},
		{"@wrong", other, "zlib", "true"},
	})

	rep, code, stderr := run(t, cfg)
	if code != 0 {
		t.Fatalf("impermanence-tune: exit %d\n%s", code, stderr)
	}
	want := map[string]tune.Status{"@persist": tune.StatusChanged, "@var-tmp": tune.StatusChanged,
		"@unmounted": tune.StatusSkipped, "@wrong": tune.StatusSkipped}
	checkStatus(t, "first run", rep, want)

	if got := progs(t, "btrfs", "property", "get", persist, "compression"); got != "compression=zstd" {
		t.Errorf("btrfs property get %s compression = %q, want compression=zstd", persist, got)
	}
	if err := os.WriteFile(filepath.Join(varTmp, "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{varTmp: true, filepath.Join(varTmp, "new"): true, filepath.Join(varTmp, "old"): false, persist: false} {
		attrs := strings.Fields(progs(t, "lsattr", "-d", name))[0]
		if strings.Contains(attrs, "C") != want {
			t.Errorf("lsattr -d %s = %s, want NoCoW %t", name, attrs, want)
		}
	}
	// Neither the subvolume reached through the top level nor the other
	// subvolume mounted at @wrong's mountpoint was touched.
	for _, p := range []string{unmounted, other} {
		if got := progs(t, "btrfs", "property", "get", p, "compression"); got != "" {
			t.Errorf("btrfs property get %s compression = %q, want no property", p, got)
		}
	}
	for _, want := range []string{
		"nothing is mounted at " + unmounted + " (it is a directory of the mount at " + tfs.Mount + ")",
		other + " is a mount of /@other, not of subvolume @wrong",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the log lacks %q:\n%s", want, stderr)
		}
	}

	rep, code, stderr = run(t, cfg)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	want["@persist"], want["@var-tmp"] = tune.StatusUnchanged, tune.StatusUnchanged
	checkStatus(t, "second run", rep, want)
}

func run(t *testing.T, cfg string) (tune.Report, int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	// Root holds an empty mode drop-in and no /proc/sys: the host's
	// kernel parameters are never written.
	root := t.TempDir()
	mode := filepath.Join(root, plan.SysctlFile(config.ModeBalanced))
	if err := os.MkdirAll(filepath.Dir(mode), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mode, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code := tune.Run(context.Background(), []string{"--config", cfg, "--json"}, tune.Env{Env: job.Env{Root: root, Stdout: &out, Stderr: &errb, Journal: func() bool { return false }}})
	var rep tune.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("impermanence-tune --json: exit %d, %v:\n%s\n%s", code, err, out.String(), errb.String())
	}
	return rep, code, errb.String()
}

func checkStatus(t *testing.T, what string, rep tune.Report, want map[string]tune.Status) {
	t.Helper()
	got := map[string]tune.Status{}
	for _, r := range rep.Subvolumes {
		got[r.Subvolume] = r.Status
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: statuses %v, want %v\n%+v", what, got, want, rep)
	}
}

// writeConfig writes a configuration with the subvolumes given as name,
// mountpoint, compression, cow.
func writeConfig(t *testing.T, path, device string, subs [][4]string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "device = %q\n\n[persist]\nsubvolume = \"@persist\"\ndirectories = []\nfiles = []\n", device)
	for _, s := range subs {
		fmt.Fprintf(&b, "\n[[subvolume]]\nname = %q\nmountpoint = %q\ncompression = %q\ncow = %s\n", s[0], s[1], s[2], s[3])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// progs runs a tool and returns its trimmed standard output.
func progs(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}
