package adversarial_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
}

func fileSites() []fileSite {
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
	for _, site := range fileSites() {
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
			clean := strings.NewReplacer(sb.dir, "$SANDBOX", cfgDir, "$CONFIG", outside, "$OUTSIDE").Replace
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
			switch {
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
	t.Logf("%d hostile files at %d paths: none hung, none written through", n, len(fileSites()))
	compareGolden(t, "testdata/files.golden", golden.String())
}

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
