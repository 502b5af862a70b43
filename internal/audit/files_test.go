package audit

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The log is appended to only as a regular file: a symbolic link (whose
// target must stay untouched), a FIFO (which must not block), a directory
// or a device there is refused; so is a symbolic link as its directory.
// The directory is created 0750 and tightened to it, the file to 0600.
func TestOpenRefusesHostileFiles(t *testing.T) {
	target := filepath.Join(t.TempDir(), "shadow")
	os.WriteFile(target, []byte("root:x:0:0\n"), 0o600)
	got := map[string]string{}
	for _, tc := range []struct {
		name  string
		plant func(p string)
	}{
		{"symlink", func(p string) { os.Symlink(target, p) }},
		{"FIFO", func(p string) { unix.Mkfifo(p, 0o600) }},
		{"directory", func(p string) { os.Mkdir(p, 0o700) }},
		{"device", func(p string) { unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) }},
		{"symlinked directory", func(p string) {
			real := filepath.Dir(p) + ".real"
			os.Mkdir(real, 0o755)
			os.Remove(filepath.Dir(p))
			os.Symlink(real, filepath.Dir(p))
		}},
	} {
		dir := filepath.Join(t.TempDir(), "server-impermanence")
		os.Mkdir(dir, 0o750)
		p := filepath.Join(dir, "audit.jsonl")
		tc.plant(p)
		done := make(chan error, 1)
		go func() {
			l, err := Open(p)
			if err == nil {
				l.Append(Event{Job: "snapshot", Action: "snapshot", Result: ResultSuccess})
				l.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			got[tc.name] = filepath.Base(errString(err))
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Open blocked for 5 s", tc.name)
		}
	}
	want := map[string]string{
		"symlink":             "audit.jsonl is a symbolic link, not a regular file: refused",
		"FIFO":                "audit.jsonl is a FIFO, not a regular file: refused",
		"directory":           "audit.jsonl is a directory, not a regular file: refused",
		"device":              "audit.jsonl is a character device, not a regular file: refused",
		"symlinked directory": "server-impermanence is a symbolic link, not a directory: refused",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors, path's base (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(target); string(b) != "root:x:0:0\n" {
		t.Errorf("appended through the symbolic link: %q", b)
	}

	dir := filepath.Join(t.TempDir(), "server-impermanence")
	os.Mkdir(dir, 0o755)
	p := filepath.Join(dir, "audit.jsonl")
	os.WriteFile(p, nil, 0o644)
	l, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	di, _ := os.Stat(dir)
	fi, _ := os.Stat(p)
	if di.Mode().Perm() != DirMode || fi.Mode().Perm() != FileMode {
		t.Errorf("modes %v %v, want the directory tightened to %v and the file to %v", di.Mode().Perm(), fi.Mode().Perm(), DirMode, FileMode)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
