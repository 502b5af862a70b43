package sysctl_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/sysctl"
)

func TestEffective(t *testing.T) {
	mode := []sysctl.Entry{
		{Key: "vm.dirty_ratio", Value: "80", Line: 3},
		{Key: "vm.swappiness", Value: "1", Line: 9},
	}
	got := sysctl.Effective(mode, "/usr/lib/server-impermanence/sysctl/io-optimized.conf", []sysctl.Override{
		{Key: "vm.swappiness", Value: "10", Source: "config.toml:4:1"},
		{Key: "net/core/somaxconn", Value: "4096", Source: "config.d/10-net.toml:2:1"},
		{Key: "vm.swappiness", Value: "20", Source: "config.d/20-db.toml:3:1"},
	})
	want := []sysctl.Setting{
		{Key: "vm.dirty_ratio", Value: "80", Source: "/usr/lib/server-impermanence/sysctl/io-optimized.conf:3"},
		{Key: "vm.swappiness", Value: "20", Source: "config.d/20-db.toml:3:1", Replaces: "config.toml:4:1"},
		{Key: "net.core.somaxconn", Value: "4096", Source: "config.d/10-net.toml:2:1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := sysctl.Effective(nil, "x.conf", nil); got != nil {
		t.Errorf("Effective of nothing = %v", got)
	}
}

func TestValidKey(t *testing.T) {
	for key, want := range map[string]bool{
		"vm.dirty_ratio":                    true,
		"vm/dirty_ratio":                    true,
		"fs.inotify.max_user_watches":       true,
		"net.ipv4.conf.enp0s31f6.rp_filter": true,
		"net.ipv6.conf.br-lan.forwarding":   true,
		"kernel":                            false,
		"":                                  false,
		"vm..dirty_ratio":                   false,
		".vm.dirty_ratio":                   false,
		"vm.dirty_ratio.":                   false,
		"net.ipv4.conf.*.rp_filter":         false,
		"vm.dirty ratio":                    false,
		"../../etc/passwd":                  false,
		"vm.dirty_ratio=1":                  false,
		"-vm.dirty_ratio":                   false,
		"vm.-x":                             false,
	} {
		if got := sysctl.ValidKey(key); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", key, got, want)
		}
	}
}

// procSys makes a directory laid out like /proc/sys with the given files
// and values.
func procSys(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for f, v := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestApply writes into a directory laid out like /proc/sys: a key whose
// value differs is written, one already set (a list compared integer by
// integer, as the kernel prints it with tabs) is not, a key that is not
// there is Missing (nothing created), a key the tree cannot take is an
// error, and the keys after a failing one are still applied. A dry run
// reports the same and writes nothing.
func TestApply(t *testing.T) {
	files := map[string]string{
		"vm/dirty_ratio":               "20\n",
		"vm/swappiness":                "60\n",
		"net/ipv4/ip_local_port_range": "1024\t65000\n",
		"net/ipv4/tcp_rmem":            "4096\t131072\t6291456\n",
		"kernel/osrelease":             "6.1.0\n",
	}
	settings := []sysctl.Setting{
		{Key: "vm.dirty_ratio", Value: "80"},
		{Key: "vm.overcommit_memory", Value: "1"},                  // a directory here: the write fails
		{Key: "vm.no_such_key", Value: "1"},                        // missing
		{Key: "kernel.osrelease.x", Value: "1"},                    // below a file: missing
		{Key: "vm.swappiness", Value: "60"},                        // already set
		{Key: "net.ipv4.ip_local_port_range", Value: "1024 65000"}, // already set, tabs
		{Key: "net.ipv4.tcp_rmem", Value: "4096 87380 6291456"},    // differs in one integer
		{Key: "../../etc/passwd", Value: "1"},                      // never a path
	}
	describe := func(res []sysctl.Result) []string {
		var got []string
		for _, r := range res {
			s := r.Key
			switch {
			case r.Missing:
				s += " missing"
			case r.Err != nil:
				s += " error: " + r.Err.Error()
			case r.Changed:
				s += " changed"
			default:
				s += " unchanged"
			}
			if r.Was != "" {
				s += " (was " + r.Was + ")"
			}
			got = append(got, s)
		}
		return got
	}
	for _, dryRun := range []bool{true, false} {
		dir := procSys(t, files)
		if err := os.MkdirAll(filepath.Join(dir, "vm", "overcommit_memory"), 0o755); err != nil {
			t.Fatal(err)
		}
		got := describe(sysctl.Apply(dir, settings, dryRun))
		wantErr := "vm.overcommit_memory error: set sysctl vm.overcommit_memory: open " + filepath.Join(dir, "vm/overcommit_memory") + ": is a directory"
		if dryRun {
			wantErr = "vm.overcommit_memory changed" // a dry run does not open it for writing
		}
		want := []string{
			"vm.dirty_ratio changed (was 20)",
			wantErr,
			"vm.no_such_key missing",
			"kernel.osrelease.x missing",
			"vm.swappiness unchanged (was 60)",
			"net.ipv4.ip_local_port_range unchanged (was 1024\t65000)",
			"net.ipv4.tcp_rmem changed (was 4096\t131072\t6291456)",
			`../../etc/passwd error: set sysctl "../../etc/passwd": not a kernel parameter name`,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Apply(dry run %t) (-want +got):\n%s", dryRun, diff)
		}
		wantFiles := map[string]string{"vm/dirty_ratio": "80\n", "vm/swappiness": "60\n",
			"net/ipv4/ip_local_port_range": "1024\t65000\n", "net/ipv4/tcp_rmem": "4096 87380 6291456\n"}
		if dryRun {
			wantFiles = files
		}
		for f, want := range wantFiles {
			if f == "kernel/osrelease" {
				continue
			}
			b, _ := os.ReadFile(filepath.Join(dir, f))
			if string(b) != want {
				t.Errorf("dry run %t: %s = %q, want %q", dryRun, f, b, want)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "vm", "no_such_key")); err == nil {
			t.Errorf("Apply created a missing key")
		}
		if !sysctl.Exists(dir, "vm.swappiness") || sysctl.Exists(dir, "vm.no_such_key") || sysctl.Exists(dir, "vm.overcommit_memory") {
			t.Errorf("Exists disagrees with the tree")
		}
	}
}

// TestReadEffective: the mode's file read from a re-rooted path and named
// by its installed path; without it, the overrides alone and the error.
func TestReadEffective(t *testing.T) {
	dir := procSys(t, map[string]string{"balanced.conf": "# mode\nvm.swappiness = 1\nvm.dirty_ratio = 20\n"})
	over := []sysctl.Override{{Key: "vm.swappiness", Value: "10", Source: "config.toml:9:1"}}
	got, err := sysctl.ReadEffective(filepath.Join(dir, "balanced.conf"), "/usr/lib/x/balanced.conf", over)
	want := []sysctl.Setting{
		{Key: "vm.swappiness", Value: "10", Source: "config.toml:9:1", Replaces: "/usr/lib/x/balanced.conf:2"},
		{Key: "vm.dirty_ratio", Value: "20", Source: "/usr/lib/x/balanced.conf:3"},
	}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("ReadEffective: %v (-want +got):\n%s", err, diff)
	}
	got, err = sysctl.ReadEffective(filepath.Join(dir, "missing.conf"), "/usr/lib/x/missing.conf", over)
	if !errors.Is(err, fs.ErrNotExist) || len(got) != 1 || got[0].Source != "config.toml:9:1" {
		t.Errorf("ReadEffective(missing) = %v, %v; want the override and ErrNotExist", got, err)
	}
}
