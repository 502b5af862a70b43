package adversarial_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/restorereq"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

// hostile is a thing put where the suite expects a regular file.
type hostile struct {
	name string
	// make creates it at p; outside is a directory of the test outside
	// every path the suite uses (for a link's target).
	make func(t *testing.T, p, outside string)
	// regular says what is at p is a regular file (garbage, huge, ...):
	// a writer replaces it, a reader refuses or ignores its content.
	regular bool
}

var hostiles = []hostile{
	{name: "symlink to a file", make: func(t *testing.T, p, outside string) {
		target := filepath.Join(outside, "target")
		must(t, os.WriteFile(target, []byte("precious\n"), 0o644))
		must(t, os.Symlink(target, p))
	}},
	{name: "symlink to /dev/zero", make: func(t *testing.T, p, _ string) { must(t, os.Symlink("/dev/zero", p)) }},
	{name: "dangling symlink", make: func(t *testing.T, p, outside string) {
		must(t, os.Symlink(filepath.Join(outside, "nothing"), p))
	}},
	{name: "FIFO", make: func(t *testing.T, p, _ string) { must(t, syscall.Mkfifo(p, 0o644)) }},
	{name: "directory", make: func(t *testing.T, p, _ string) { must(t, os.Mkdir(p, 0o755)) }},
	{name: "character device", make: func(t *testing.T, p, _ string) {
		must(t, unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5)))) // /dev/zero's numbers
	}},
	{name: "UNIX socket", make: func(t *testing.T, p, _ string) {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		must(t, err)
		defer unix.Close(fd)
		must(t, unix.Bind(fd, &unix.SockaddrUnix{Name: p}))
	}},
	{name: "garbage", regular: true, make: func(t *testing.T, p, _ string) {
		must(t, os.WriteFile(p, []byte("\x7fELF\x00\x00{{{\xff\xfe"), 0o644))
	}},
	{name: "truncated JSON", regular: true, make: func(t *testing.T, p, _ string) {
		must(t, os.WriteFile(p, []byte(`{"job":"snapshot","result":"succ`), 0o644))
	}},
	{name: "empty", regular: true, make: func(t *testing.T, p, _ string) { must(t, os.WriteFile(p, nil, 0o644)) }},
	{name: "huge (sparse 4 GiB)", regular: true, make: func(t *testing.T, p, _ string) {
		f, err := os.Create(p)
		must(t, err)
		must(t, f.Truncate(4<<30))
		must(t, f.Close())
	}},
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fingerprint describes what is at p (without following it) and, for a
// link, what its target holds: a hostile thing must be left as it was,
// unless the writer replaced it whole (a regular file, or the link itself).
func fingerprint(p string) string {
	fi, err := os.Lstat(p)
	if err != nil {
		return "missing"
	}
	s := fi.Mode().Type().String()
	if fi.Mode()&os.ModeSymlink != 0 {
		target, _ := os.Readlink(p)
		s += " -> " + target
		if ti, err := os.Lstat(target); err == nil && ti.Mode().IsRegular() {
			b, _ := os.ReadFile(target)
			s += fmt.Sprintf(" %q", firstLines(string(b), 1))
		}
	}
	return s
}

// fileSite is one path the suite reads or writes, with the run that
// touches it.
type fileSite struct {
	name string
	// path is where the hostile thing goes, in the sandbox.
	path func(sb *sandbox, cfgDir string) string
	// run touches it.
	run func(t *testing.T, sb *sandbox, cfgDir string) result
	// writes says the run replaces the file (a record, the textfile):
	// afterwards it is a regular file, a link's target is untouched; a
	// non-regular thing is refused, left as it was.
	writes bool
	// lock says it is the lock file: anything but a regular file (or a
	// link) is refused and the job fails; a regular file, whatever it
	// holds, is locked, its content replaced by the holder's line, and the
	// job succeeds.
	lock bool
	// btrfs says the path is on the shared filesystem (made at first use;
	// the hostile thing is removed after the case).
	btrfs bool
	// code, when set, is the exit code every hostile thing gives, and the
	// run must say what it refused.
	code *int
}

func exit(code int) *int { return &code }

// onBtrfs is the real filesystem the sites that need one share (the
// lock, the restore requests), made at the first use: the default layout,
// provisioned, with a snapshot of @persist to restore.
type onBtrfs struct {
	l        *jobtest.Layout
	uuid     string
	snapshot string
}

func (b *onBtrfs) get(t *testing.T) *onBtrfs {
	t.Helper()
	if b.l != nil {
		return b
	}
	b.l = jobtest.New(t)
	fsys, err := btrfs.Open(b.l.FS.Mount)
	must(t, err)
	b.uuid = fsys.FSID().String()
	fsys.Close()
	if code := snapshot.Run(context.Background(), b.l.Args("--label", "base", "@persist"), b.l.Env); code != 0 {
		t.Fatalf("snapshot: %d\n%s", code, b.l.Err)
	}
	entries, _ := os.ReadDir(filepath.Join(b.l.FS.Mount, "@snapshots/@persist"))
	b.snapshot = entries[0].Name()
	return b
}

// requests is where the restore requests are on it.
func (b *onBtrfs) requests() string {
	return filepath.Join(b.l.FS.Mount, "old_roots", restorereq.RequestFile)
}

func fileSites(fsys *onBtrfs) []fileSite {
	valid := strings.Join(baseLines, "\n") + "\n"
	writeCfg := func(t *testing.T, dir string) {
		must(t, os.WriteFile(filepath.Join(dir, "config.toml"), []byte(valid), 0o644))
	}
	return []fileSite{
		{name: "config.toml (generator --check)",
			path: func(_ *sandbox, d string) string { return filepath.Join(d, "config.toml") },
			run: func(t *testing.T, sb *sandbox, d string) result {
				return sb.run(t, "server-impermanence-generator", "--check", "--config", filepath.Join(d, "config.toml"))
			}},
		{name: "config.toml (impermanence-diff)",
			path: func(_ *sandbox, d string) string { return filepath.Join(d, "config.toml") },
			run: func(t *testing.T, sb *sandbox, d string) result {
				return sb.run(t, "impermanence-diff", "--config", filepath.Join(d, "config.toml"))
			}},
		{name: "config.d drop-in (generator --check)",
			path: func(_ *sandbox, d string) string { return filepath.Join(d, "config.d/50-x.toml") },
			run: func(t *testing.T, sb *sandbox, d string) result {
				writeCfg(t, d)
				return sb.run(t, "server-impermanence-generator", "--check", "--config", filepath.Join(d, "config.toml"))
			}},
		{name: "state record (snapshot's failure record)", writes: true,
			path: func(sb *sandbox, _ string) string { return sb.host("/var/lib/server-impermanence/snapshot.json") },
			run: func(t *testing.T, sb *sandbox, _ string) result {
				return sb.run(t, "impermanence-snapshot", "--default", "--device", "/dev/adversarial-none")
			}},
		{name: "rollback record (in /run)", writes: true,
			path: func(sb *sandbox, _ string) string { return sb.host("/run/server-impermanence/rollback.json") },
			run: func(t *testing.T, sb *sandbox, _ string) result {
				return sb.run(t, "impermanence-rollback", "--default", "--device", "/dev/adversarial-none")
			}},
		{name: "rollback audit log (in /run)", writes: true,
			path: func(sb *sandbox, _ string) string { return sb.host("/run/server-impermanence/audit.jsonl") },
			run: func(t *testing.T, sb *sandbox, _ string) result {
				return sb.run(t, "impermanence-rollback", "--default", "--device", "/dev/adversarial-none")
			}},
		{name: "textfile (exporter --textfile)", writes: true,
			path: func(sb *sandbox, _ string) string {
				return sb.host("/var/lib/adversarial-textfile/server_impermanence.prom")
			},
			run: func(t *testing.T, sb *sandbox, d string) result {
				writeCfg(t, d)
				return sb.run(t, "impermanence-exporter", "--config", filepath.Join(d, "config.toml"), "--no-systemd",
					"--textfile", "--textfile-dir", "/var/lib/adversarial-textfile")
			}},
		{name: "lock file (snapshot takes the lock)", lock: true,
			path: func(sb *sandbox, _ string) string {
				return sb.host("/run/server-impermanence/lock/" + fsys.uuid + ".lock")
			},
			run: func(t *testing.T, sb *sandbox, _ string) result {
				return sb.run(t, "impermanence-snapshot", "--default", "--device", fsys.l.FS.Device, "--label", "lock", "@persist")
			}},
		// The reset goes on; the staged restores are not applied, and it
		// says so.
		{name: "restore requests (rollback applies them)", btrfs: true, code: exit(0),
			path: func(*sandbox, string) string { return fsys.requests() },
			run: func(t *testing.T, sb *sandbox, _ string) result {
				return sb.run(t, "impermanence-rollback", "--default", "--device", fsys.l.FS.Device)
			}},
		// Refused: the staged restores it would replace are not known.
		{name: "restore requests (restore --next-boot stages one)", btrfs: true, code: exit(1),
			path: func(*sandbox, string) string { return fsys.requests() },
			run: func(t *testing.T, sb *sandbox, _ string) result {
				return sb.run(t, "impermanence-restore", "--default", "--device", fsys.l.FS.Device,
					"--next-boot", "--from", fsys.snapshot, "@persist")
			}},
		{name: "state record read by the exporter",
			path: func(sb *sandbox, _ string) string { return sb.host("/var/lib/server-impermanence/snapshot.json") },
			run: func(t *testing.T, sb *sandbox, d string) result {
				writeCfg(t, d)
				return sb.run(t, "impermanence-exporter", "--config", filepath.Join(d, "config.toml"), "--no-systemd",
					"--textfile", "--textfile-dir", "/var/lib/adversarial-textfile")
			}},
	}
}

// TestHostileFiles puts every hostile thing at every path the suite reads
// or writes and runs what touches it: it ends within runTimeout (a FIFO or
// /dev/zero never hangs it), never writes through a link (the target is
// unchanged), leaves a non-regular thing as it was, and says what it
// refused; the golden file pins each exit code and message.
func TestHostileFiles(t *testing.T) {
	need(t, true)
	var golden strings.Builder
	n := 0
	fsys := &onBtrfs{}
	for _, site := range fileSites(fsys) {
		if site.lock || site.btrfs {
			fsys.get(t)
		}
		for _, h := range hostiles {
			sb := newSandbox(t)
			cfgDir, outside := t.TempDir(), t.TempDir()
			p := site.path(sb, cfgDir)
			must(t, os.MkdirAll(filepath.Dir(p), 0o755))
			h.make(t, p, outside)
			before := fingerprint(p)
			t0 := time.Now()
			r := site.run(t, sb, cfgDir)
			took := time.Since(t0)
			after := fingerprint(p)
			n++
			what := site.name + ", " + h.name
			msg := logTime.ReplaceAllString(relevant(r.stderr, filepath.Base(p)), "time=… ")
			// The top level a job mounted itself: a detached mount, reached
			// through its descriptor.
			msg = detachedTop.ReplaceAllString(msg, "/proc/$$PID/fd/$$FD")
			var clean func(string) string
			if fsys.l != nil {
				clean = strings.NewReplacer(sb.dir, "$SANDBOX", cfgDir, "$CONFIG", outside, "$OUTSIDE",
					fsys.l.FS.Mount, "$TOP", fsys.l.FS.Device, "$DEVICE", fsys.uuid, "$UUID", fsys.snapshot, "$SNAPSHOT").Replace
			} else {
				clean = strings.NewReplacer(sb.dir, "$SANDBOX", cfgDir, "$CONFIG", outside, "$OUTSIDE").Replace
			}
			fmt.Fprintf(&golden, "## %s\nexit %d; after: %s\n%s", what, r.code, clean(after), short(clean(msg)))
			if took > 10*time.Second {
				t.Errorf("%s: took %s", what, took)
			}
			if strings.HasPrefix(before, "L") && strings.Contains(before, "precious") && !strings.Contains(after, "precious") && after != "-" {
				t.Errorf("%s: the link's target changed: %s, then %s", what, before, after)
			}
			if target := filepath.Join(outside, "target"); strings.Contains(before, target) {
				if b, _ := os.ReadFile(target); string(b) != "precious\n" {
					t.Errorf("%s: wrote through the link: its target holds %q", what, b)
				}
			}
			if site.btrfs {
				must(t, os.RemoveAll(p))
			}
			if site.code != nil && (r.code != *site.code || msg == "") {
				t.Errorf("%s: exit %d, want %d saying what it refused:\n%s", what, r.code, *site.code, r.stderr)
			}
			switch {
			case site.lock:
				ok := h.regular
				if ok && (r.code != 0 || !strings.HasPrefix(after, "-")) {
					t.Errorf("%s: exit %d, after: %s; want the lock taken and the snapshot made\n%s", what, r.code, after, r.stderr)
				}
				if ok {
					if b, _ := os.ReadFile(p); !strings.HasPrefix(string(b), "pid=") {
						t.Errorf("%s: the lock file holds %q, want the holder's line", what, firstLines(string(b), 1))
					}
				}
				if !ok && (r.code != 1 || after != before || msg == "") {
					t.Errorf("%s: exit %d, %s became %s; want exit 1 saying it refused\n%s", what, r.code, before, after, r.stderr)
				}
			case site.writes && (h.regular || strings.HasPrefix(before, "L")):
				// A record or textfile is replaced whole (rename): the link
				// itself is replaced, its target never written.
			case site.writes:
				if after != before {
					t.Errorf("%s: %s became %s", what, before, after)
				}
				if msg == "" {
					t.Errorf("%s: nothing said about it:\n%s", what, r.stderr)
				}
			default: // a reader
				if after != before {
					t.Errorf("%s: %s became %s", what, before, after)
				}
			}
		}
	}
	count("hostile files", n)
	t.Logf("%d hostile files at %d paths: none hung, none written through", n, len(fileSites(fsys)))
	compareGolden(t, "testdata/files.golden", golden.String())
}

// detachedTop is the path of a job's detached top-level mount.
var detachedTop = regexp.MustCompile(`/proc/[0-9]+/fd/[0-9]+`)

// logTime is the time of a log line, which the golden file leaves out.
var logTime = regexp.MustCompile(`time=\S+ `)

// relevant returns the lines of stderr that name base.
func relevant(stderr, base string) string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, base) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return strings.Join(out, "\n") + "\n"
}
