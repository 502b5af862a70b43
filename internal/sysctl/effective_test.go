package sysctl_test

import (
	"os"
	"path/filepath"
	"strings"
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

// TestApply writes into a directory laid out like /proc/sys: every key
// there is set, a key that is not there is Missing (nothing created), and
// the keys after a failing one are still applied.
func TestApply(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"vm/dirty_ratio", "vm/swappiness"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("60\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A directory where a key's file would be: the write fails.
	os.MkdirAll(filepath.Join(dir, "vm", "overcommit_memory"), 0o755)
	res := sysctl.Apply(dir, []sysctl.Setting{
		{Key: "vm.dirty_ratio", Value: "80"},
		{Key: "vm.overcommit_memory", Value: "1"},
		{Key: "vm.no_such_key", Value: "1"},
		{Key: "vm.swappiness", Value: "1"},
	})
	var got []string
	for _, r := range res {
		s := r.Key
		switch {
		case r.Missing:
			s += " missing"
		case r.Err != nil:
			s += " error"
		default:
			s += " set"
		}
		got = append(got, s)
	}
	if diff := cmp.Diff([]string{"vm.dirty_ratio set", "vm.overcommit_memory error", "vm.no_such_key missing", "vm.swappiness set"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for f, want := range map[string]string{"vm/dirty_ratio": "80\n", "vm/swappiness": "1\n"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if string(b) != want {
			t.Errorf("%s = %q, want %q", f, b, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "vm", "no_such_key")); err == nil {
		t.Errorf("Apply created a missing key")
	}
	if !strings.Contains(res[1].Err.Error(), "set sysctl vm.overcommit_memory") {
		t.Errorf("error %v does not name the key", res[1].Err)
	}
	if !sysctl.Exists(dir, "vm.swappiness") || sysctl.Exists(dir, "vm.no_such_key") || sysctl.Exists(dir, "vm.overcommit_memory") {
		t.Errorf("Exists disagrees with the tree")
	}
}
