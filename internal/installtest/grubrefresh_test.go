package installtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGrubRefreshDecision runs grub/refresh-menu in a private mount
// namespace with a stand-in update-grub on PATH: it runs update-grub
// only when the menu is on and /boot is in the root's filesystem.
func TestGrubRefreshDecision(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	script, _ := filepath.Abs("../../grub/refresh-menu")
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "update-grub"), []byte("#! /bin/sh\necho RAN-UPDATE-GRUB\n"), 0o755)
	inRoot, err := os.MkdirTemp("/var/tmp", "grubrefresh-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(inRoot)
	for _, tc := range []struct {
		name, enabled, mount string
		runs                 bool
	}{
		{"disabled", "false", "mount --bind " + inRoot + " /boot", false},
		{"separate /boot", "true", "mount -t tmpfs none /boot", false},
		{"/boot in the root", "true", "mount --bind " + inRoot + " /boot", true},
	} {
		cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", tc.mount+" && exec "+script)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "GRUB_SERVER_IMPERMANENCE="+tc.enabled)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: refresh-menu: %v\n%s", tc.name, err, out)
		}
		if got := strings.Contains(string(out), "RAN-UPDATE-GRUB"); got != tc.runs {
			t.Errorf("%s: update-grub ran = %v, want %v\n%s", tc.name, got, tc.runs, out)
		}
	}
}
