package restorereq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

// TestRequestErrorsShowTheRealPath: read through a detached top level (as
// a job that mounts the top level itself does), the request file's errors
// name the device and the file's path in its top level, never the
// descriptor's /proc/<pid>/fd/<n> path, which names nothing outside the
// process.
func TestRequestErrorsShowTheRealPath(t *testing.T) {
	tfs := btrfstest.New(t)
	cfg := config.Default()
	p := filepath.Join(tfs.Mount, RequestPath(cfg))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	top, unmount, err := btrfs.MountTopLevel(tfs.Device, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unmount()
	shown := tfs.Device + ":/" + RequestPath(cfg)
	for _, tc := range []struct {
		name  string
		setup func()
		want  string
	}{
		{"a symbolic link", func() { os.Symlink("/etc/passwd", p) },
			"read restore requests: " + shown + " is a symbolic link, not a regular file: refused"},
		{"not JSON", func() { os.WriteFile(p, []byte("\x7f"), 0o600) },
			"read restore requests " + shown + ": invalid character '\\x7f' looking for beginning of value"},
		{"another version", func() { os.WriteFile(p, []byte(`{"version": 99}`), 0o600) },
			"restore requests " + shown + ": version 99, want 1"},
	} {
		os.Remove(p)
		tc.setup()
		_, err := ReadRequests(top, cfg)
		if err == nil || err.Error() != tc.want || strings.Contains(err.Error(), "/proc/") {
			t.Errorf("%s: ReadRequests = %v, want %q", tc.name, err, tc.want)
		}
	}
	os.Remove(p)
	// A directory where the file goes: the write's error names it too.
	os.Mkdir(p, 0o700)
	err = WriteRequests(top, cfg, Requests{Requests: []Request{{Subvolume: "@root"}}})
	if err == nil || !strings.Contains(err.Error(), shown) || strings.Contains(err.Error(), "/proc/") {
		t.Errorf("WriteRequests over a directory = %v, want an error naming %s", err, shown)
	}
}
