package lock

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func logger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

func TestAcquireExcludesAndTimesOut(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	l1, err := Acquire(context.Background(), dir, "4e27972f-3d9e-4898-93a8-2b2900df44d8", "snapshot", 0, logger(&log))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Acquire(context.Background(), dir, "4e27972f-3d9e-4898-93a8-2b2900df44d8", "prune", 200*time.Millisecond, logger(&log))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("second Acquire = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("second Acquire gave up after %s, want about 200ms", d)
	}
	if !strings.Contains(err.Error(), "job=snapshot") || !strings.Contains(log.String(), "waiting for the filesystem lock") {
		t.Errorf("timeout error %q / log %q do not name the holder and the wait", err, log.String())
	}
	// Another filesystem is not blocked.
	l3, err := Acquire(context.Background(), dir, "other-fs", "prune", 0, logger(&log))
	if err != nil {
		t.Fatalf("lock of another filesystem: %v", err)
	}
	l3.Release()

	go func() { time.Sleep(100 * time.Millisecond); l1.Release() }()
	log.Reset()
	l2, err := Acquire(context.Background(), dir, "4e27972f-3d9e-4898-93a8-2b2900df44d8", "prune", 5*time.Second, logger(&log))
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	defer l2.Release()
	if !strings.Contains(log.String(), "filesystem lock acquired") {
		t.Errorf("log after waiting = %q, want the acquired message", log.String())
	}
}

func TestAcquireCancelled(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, "fs", "a", 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, dir, "fs", "b", time.Minute, slog.New(slog.DiscardHandler)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire with a cancelled context = %v, want DeadlineExceeded", err)
	}
}

func TestAcquireRejectsBadUUID(t *testing.T) {
	for _, id := range []string{"", "../x", "a/b"} {
		if _, err := Acquire(context.Background(), t.TempDir(), id, "a", 0, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("Acquire(%q) = nil error, want an error", id)
		}
	}
}

// The lock holds across processes (flock is per open file description).
func TestAcquireAcrossProcesses(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed")
	}
	dir := t.TempDir()
	path := Path(dir, "fs")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("flock", path, "sleep", "2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	// Wait until flock(1) holds it.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		l, err := Acquire(context.Background(), dir, "fs", "probe", 0, slog.New(slog.DiscardHandler))
		if err != nil {
			return // held by the other process, as wanted
		}
		l.Release()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("lock held by another process was acquired")
}

// The lock file must be a regular file (a symbolic link, FIFO, directory
// or device there is refused, never locked or written through) in a
// directory that is no symbolic link, created 0700 and tightened to it.
func TestAcquireHostileFiles(t *testing.T) {
	const id = "4e27972f-3d9e-4898-93a8-2b2900df44d8"
	target := filepath.Join(t.TempDir(), "target")
	os.WriteFile(target, []byte("precious\n"), 0o644)
	for _, tc := range []struct {
		name  string
		plant func(p string) error
		typ   string
	}{
		{"symlink", func(p string) error { return os.Symlink(target, p) }, "symbolic link"},
		{"FIFO", func(p string) error { return unix.Mkfifo(p, 0o600) }, "FIFO"},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }, "directory"},
		{"device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) }, "character device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.plant(Path(dir, id)); err != nil {
				t.Fatal(err)
			}
			_, err := Acquire(context.Background(), dir, id, "snapshot", 0, logger(&bytes.Buffer{}))
			want := "lock filesystem " + id + ": " + Path(dir, id) + " is a " + tc.typ + ", not a regular file: refused"
			if err == nil || err.Error() != want {
				t.Errorf("Acquire = %v, want %q", err, want)
			}
		})
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Errorf("the symbolic link's target was written: %q", b)
	}
	// The directory.
	base := t.TempDir()
	loose := filepath.Join(base, "lock")
	os.Mkdir(loose, 0o755)
	l, err := Acquire(context.Background(), loose, id, "snapshot", 0, logger(&bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if fi, _ := os.Stat(loose); fi.Mode().Perm() != 0o700 {
		t.Errorf("lock dir mode %v, want it tightened to 0700", fi.Mode().Perm())
	}
	link := filepath.Join(base, "link")
	os.Symlink(loose, link)
	_, err = Acquire(context.Background(), link, id, "snapshot", 0, logger(&bytes.Buffer{}))
	if want := "lock filesystem " + id + ": " + link + " is a symbolic link, not a directory: refused"; err == nil || err.Error() != want {
		t.Errorf("Acquire in a symbolic link = %v, want %q", err, want)
	}
}
