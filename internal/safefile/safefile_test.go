package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// hostile is a kind of file planted where the suite expects a regular file.
type hostile struct {
	name  string
	plant func(t *testing.T, p string) // creates p
	typ   string                       // its type, as errors name it
}

// target is a regular file a symbolic link points to; it must never change.
const targetContent = "precious\n"

func plantTarget(t *testing.T, p string) string {
	t.Helper()
	tgt := filepath.Join(filepath.Dir(p), "target-of-"+filepath.Base(p))
	if err := os.WriteFile(tgt, []byte(targetContent), 0o644); err != nil {
		t.Fatal(err)
	}
	return tgt
}

var hostiles = []hostile{
	{"symlink", func(t *testing.T, p string) {
		if err := os.Symlink(plantTarget(t, p), p); err != nil {
			t.Fatal(err)
		}
	}, "symbolic link"},
	{"dangling symlink", func(t *testing.T, p string) {
		if err := os.Symlink(filepath.Join(filepath.Dir(p), "nowhere"), p); err != nil {
			t.Fatal(err)
		}
	}, "symbolic link"},
	{"FIFO", func(t *testing.T, p string) {
		if err := unix.Mkfifo(p, 0o666); err != nil {
			t.Fatal(err)
		}
	}, "FIFO"},
	{"directory", func(t *testing.T, p string) {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}, "directory"},
	{"device", func(t *testing.T, p string) { mknodNull(t, p) }, "character device"},
}

// mknodNull creates a character device like /dev/null at p (root only).
func mknodNull(t *testing.T, p string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mknod needs root")
	}
	if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
}

// within runs f and fails the test when it does not return within 5 s (a
// FIFO blocking an open).
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("blocked for 5 s")
		return nil
	}
}

// unchanged checks that the hostile file planted at p is still what it was.
func unchanged(t *testing.T, h hostile, p string) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if got := typeName(fi.Mode()); got != h.typ {
		t.Errorf("%s is now a %s, want the %s left as it was", p, got, h.typ)
	}
	if h.name == "symlink" {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "target-of-"+filepath.Base(p)))
		if string(b) != targetContent {
			t.Errorf("the symbolic link's target changed to %q", b)
		}
	}
	if h.name == "dangling symlink" {
		if _, err := os.Lstat(filepath.Join(filepath.Dir(p), "nowhere")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the dangling symbolic link's target was created")
		}
	}
}

func wantErr(t *testing.T, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", msg)
	}
	if err.Error() != msg {
		t.Errorf("error %q, want %q", err, msg)
	}
	if !errors.Is(err, ErrType) {
		t.Errorf("error %q does not match ErrType", err)
	}
}

func TestHostileFiles(t *testing.T) {
	ops := []struct {
		name string
		do   func(p string) error
	}{
		{"append", func(p string) error {
			f, err := OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, Perm{File: 0o600, Dir: 0o750})
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"lock", func(p string) error {
			f, err := OpenFile(p, os.O_RDWR|os.O_CREATE, Perm{File: 0o600, Dir: 0o700})
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"truncate", func(p string) error {
			f, err := OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, Perm{File: 0o644})
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"replace", func(p string) error { return Replace(p, []byte("new\n"), Perm{File: 0o644, Dir: 0o755}, Durable) }},
		{"read", func(p string) error { _, err := ReadFile(p, 1<<20); return err }},
	}
	for _, op := range ops {
		for _, h := range hostiles {
			t.Run(op.name+"/"+h.name, func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "file")
				h.plant(t, p)
				err := within(t, func() error { return op.do(p) })
				wantErr(t, err, p+" is a "+h.typ+", not a regular file: refused")
				unchanged(t, h, p)
			})
		}
	}
}

// A FIFO with a reader opens (O_NONBLOCK or not); the fstat refuses it.
func TestFIFOWithReader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(p, 0o666); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Race the precheck: open directly after it, as a FIFO swapped in.
	_, err = openAt(unix.AT_FDCWD, p, p, os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil || err.Error() != p+" is a FIFO, not a regular file: refused" {
		t.Errorf("append to a FIFO with a reader: %v", err)
	}
	if err := within(t, func() error { _, err := readOpen(p, 100, unix.O_NOFOLLOW); return err }); err == nil ||
		err.Error() != p+" is a FIFO, not a regular file: refused" {
		t.Errorf("read a FIFO: %v", err)
	}
}

// The file's own directory must not be a symbolic link either; parents are
// resolved normally.
func TestHostileDirectory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, d string)
		msg   string
	}{
		{"symlink", func(t *testing.T, d string) {
			real := d + ".real"
			os.Mkdir(real, 0o755)
			if err := os.Symlink(real, d); err != nil {
				t.Fatal(err)
			}
		}, "%s is a symbolic link, not a directory: refused"},
		{"file", func(t *testing.T, d string) { os.WriteFile(d, nil, 0o644) }, "%s is a regular file, not a directory: refused"},
		{"FIFO", func(t *testing.T, d string) { unix.Mkfifo(d, 0o666) }, "%s is a FIFO, not a directory: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "log")
			tc.plant(t, d)
			p := filepath.Join(d, "audit.jsonl")
			msg := strings.ReplaceAll(tc.msg, "%s", d)
			err := within(t, func() error {
				_, err := OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, Perm{File: 0o600, Dir: 0o750})
				return err
			})
			wantErr(t, err, msg)
			wantErr(t, within(t, func() error { return Replace(p, nil, Perm{File: 0o644, Dir: 0o755}, Durable) }), msg)
			if _, err := os.Lstat(d + ".real/audit.jsonl"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a file was created through the symbolic link")
			}
		})
	}
	// A symbolic link above the file's own directory is followed.
	base := t.TempDir()
	os.Mkdir(filepath.Join(base, "real"), 0o755)
	os.Symlink(filepath.Join(base, "real"), filepath.Join(base, "var"))
	if err := Replace(filepath.Join(base, "var/lib/state.json"), []byte("{}\n"), Perm{File: 0o644, Dir: 0o755}, Durable); err != nil {
		t.Errorf("through a symbolic link above the directory: %v", err)
	}
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// Directories are created with their mode whatever the umask, and an
// existing looser one is tightened, never loosened; so is an existing file.
func TestModes(t *testing.T) {
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	base := t.TempDir()
	d := filepath.Join(base, "var/log/server-impermanence")
	f, err := OpenFile(filepath.Join(d, "audit.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, Perm{File: 0o600, Dir: 0o750})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	got := map[string]fs.FileMode{"dir created": mode(t, d), "file created": mode(t, filepath.Join(d, "audit.jsonl"))}

	unix.Umask(0o022)
	os.Chmod(d, 0o777)
	os.Chmod(filepath.Join(d, "audit.jsonl"), 0o666)
	f, err = OpenFile(filepath.Join(d, "audit.jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, Perm{File: 0o600, Dir: 0o750})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	got["dir tightened"], got["file tightened"] = mode(t, d), mode(t, filepath.Join(d, "audit.jsonl"))

	os.Chmod(d, 0o700)
	if err := MkdirAll(d, 0o750); err != nil {
		t.Fatal(err)
	}
	got["stricter dir kept"] = mode(t, d)

	s := filepath.Join(base, "state")
	if err := Replace(filepath.Join(s, "snapshot.json"), []byte("{}\n"), Perm{File: 0o644, Dir: 0o755}, Atomic); err != nil {
		t.Fatal(err)
	}
	got["state dir"], got["state file"] = mode(t, s), mode(t, filepath.Join(s, "snapshot.json"))
	want := map[string]fs.FileMode{
		"dir created": 0o750, "file created": 0o600,
		"dir tightened": 0o750, "file tightened": 0o600,
		"stricter dir kept": 0o700,
		"state dir":         0o755, "state file": 0o644,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modes (-want +got):\n%s", diff)
	}
}

func TestRead(t *testing.T) {
	d := t.TempDir()
	reg := filepath.Join(d, "config.toml")
	os.WriteFile(reg, []byte("mode = \"balanced\"\n"), 0o644)
	link := filepath.Join(d, "link.toml")
	os.Symlink(reg, link)
	fifo := filepath.Join(d, "fifo")
	unix.Mkfifo(fifo, 0o666)
	fifoLink := filepath.Join(d, "fifo-link.toml")
	os.Symlink(fifo, fifoLink)
	dirLink := filepath.Join(d, "dir-link.toml")
	os.Symlink(d, dirLink)
	big := filepath.Join(d, "big")
	os.WriteFile(big, make([]byte, 101), 0o644)

	type res struct {
		Data string
		Err  string
	}
	do := func(read func(string, int64) ([]byte, error), p string) res {
		var b []byte
		err := within(t, func() error { var err error; b, err = read(p, 100); return err })
		r := res{Data: string(b)}
		if err != nil {
			r.Err = err.Error()
		}
		return r
	}
	got := map[string]res{
		"regular":               do(ReadFile, reg),
		"symlink":               do(ReadFile, link),
		"follow symlink":        do(ReadFollow, link),
		"follow symlink FIFO":   do(ReadFollow, fifoLink),
		"follow symlink to dir": do(ReadFollow, dirLink),
		"too large":             do(ReadFile, big),
		"missing":               do(ReadFile, filepath.Join(d, "missing")),
	}
	want := map[string]res{
		"regular":               {Data: "mode = \"balanced\"\n"},
		"symlink":               {Err: link + " is a symbolic link, not a regular file: refused"},
		"follow symlink":        {Data: "mode = \"balanced\"\n"},
		"follow symlink FIFO":   {Err: fifoLink + " is a FIFO, not a regular file: refused"},
		"follow symlink to dir": {Err: dirLink + " is a directory, not a regular file: refused"},
		"too large":             {Err: big + ": larger than 100 bytes: refused"},
		"missing":               {Err: "open " + filepath.Join(d, "missing") + ": no such file or directory"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reads (-want +got):\n%s", diff)
	}
	if _, err := ReadFile(filepath.Join(d, "missing"), 100); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v does not match fs.ErrNotExist", err)
	}
}

func entries(t *testing.T, d string) []string {
	t.Helper()
	es, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestReplace(t *testing.T) {
	d := t.TempDir()
	p := filepath.Join(d, "snapshot.json")
	for _, s := range []string{"one\n", "two\n"} {
		if err := Replace(p, []byte(s), Perm{File: 0o644}, Durable); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != s {
			t.Errorf("content %q, want %q", b, s)
		}
	}
	if diff := cmp.Diff([]string{"snapshot.json"}, entries(t, d)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
}

func TestReplaceModeAndMissingDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.json")
	for _, s := range []string{"one", "two"} {
		if err := Replace(p, []byte(s), Perm{File: 0o640}, Durable); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "two" || fi.Mode().Perm() != 0o640 {
		t.Errorf("after two writes: %q mode %v, want \"two\" 0640", b, fi.Mode().Perm())
	}
	if err := Replace(filepath.Join(t.TempDir(), "missing/x"), nil, Perm{File: 0o644}, Durable); err == nil {
		t.Error("write into a missing directory (Perm.Dir 0) succeeded")
	}
}

// Temporaries whose writer is gone are removed by the next writer of the
// same file; a live writer's (locked) and other files' are left.
func TestReplaceRemovesStaleTemporaries(t *testing.T) {
	d := t.TempDir()
	old := time.Now().Add(-time.Hour)
	mk := func(name string, mtime time.Time) {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	mk(".server_impermanence.prom.tmp-123", time.Now()) // ours, writer gone
	mk(".server_impermanence.prom8237461", old)         // an older version's, old
	mk(".server_impermanence.prom.tmp-456", time.Now()) // ours, writer alive (locked below)
	mk(".server_impermanence.prom9999", time.Now())     // an older version's, recent: maybe alive
	mk(".other.prom.tmp-789", old)                      // another file's
	mk(".server_impermanence.prom.tmp-12x", old)        // not a temporary name
	mk("server_impermanence.prom.tmp-1", old)           // not hidden: not ours
	live, err := os.Open(filepath.Join(d, ".server_impermanence.prom.tmp-456"))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := unix.Flock(int(live.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := Replace(filepath.Join(d, "server_impermanence.prom"), []byte("x 1\n"), Perm{File: 0o644}, Atomic); err != nil {
		t.Fatal(err)
	}
	want := []string{".other.prom.tmp-789", ".server_impermanence.prom.tmp-12x", ".server_impermanence.prom.tmp-456",
		".server_impermanence.prom9999", "server_impermanence.prom", "server_impermanence.prom.tmp-1"}
	if diff := cmp.Diff(want, entries(t, d)); diff != "" {
		t.Errorf("directory after Replace (-want +got):\n%s", diff)
	}
}

// A writer SIGKILLed with its temporary written halfway leaves it; the next
// Replace removes it.
func TestReplaceAfterSIGKILL(t *testing.T) {
	if d := os.Getenv("SAFEFILE_KILL_CHILD"); d != "" {
		afterTemp = func(tmp string) {
			os.WriteFile(filepath.Join(d, "ready"), []byte(tmp), 0o644)
			time.Sleep(time.Minute)
		}
		Replace(filepath.Join(d, "server_impermanence.prom"), []byte("x 1\n"), Perm{File: 0o644}, Atomic)
		os.Exit(3)
	}
	d := t.TempDir()
	if err := Replace(filepath.Join(d, "server_impermanence.prom"), []byte("x 0\n"), Perm{File: 0o644}, Atomic); err != nil {
		t.Fatal(err)
	}
	kill := t.TempDir()
	for i := range 3 {
		os.Remove(filepath.Join(kill, "ready"))
		cmd := execSelf(t, "TestReplaceAfterSIGKILL", "SAFEFILE_KILL_CHILD="+d)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(d, "ready")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatal("child never created its temporary")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		os.Remove(filepath.Join(d, "ready"))
		if n := len(entries(t, d)); n != 2 {
			t.Fatalf("kill %d: want the file and one leftover temporary, have %v", i, entries(t, d))
		}
		if err := Replace(filepath.Join(d, "server_impermanence.prom"), []byte("x 2\n"), Perm{File: 0o644}, Atomic); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"server_impermanence.prom"}, entries(t, d)); diff != "" {
			t.Errorf("after the next Replace (-want +got):\n%s", diff)
		}
	}
}
