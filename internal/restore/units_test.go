package restore

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// Unit files that are not regular files give nothing: a masked unit
// (a symbolic link to /dev/null), a FIFO (which must not block the scan), a
// directory named like a unit.
func TestUsersSkipsNonRegularUnitFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.service"), []byte("[Unit]\nRequiresMountsFor=/var/lib/services/app\n"), 0o644)
	os.Symlink("/dev/null", filepath.Join(dir, "masked.service"))
	unix.Mkfifo(filepath.Join(dir, "fifo.service"), 0o644)
	os.Mkdir(filepath.Join(dir, "dir.mount"), 0o755)
	os.Mkdir(filepath.Join(dir, "app.service.d"), 0o755)
	unix.Mkfifo(filepath.Join(dir, "app.service.d", "fifo.conf"), 0o644)
	done := make(chan []Use, 1)
	go func() { done <- Users([]string{dir}, []string{"/var/lib/services"}) }()
	select {
	case got := <-done:
		want := []Use{{Unit: "app.service", Setting: "RequiresMountsFor=/var/lib/services/app", File: filepath.Join(dir, "app.service")}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Users (-want +got):\n%s", diff)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Users blocked for 5 s")
	}
}
