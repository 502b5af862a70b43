package adversarial_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// bin is the directory of the binaries under test (TestMain builds them).
var bin string

// enabled says the tier runs: make test-adversarial sets it, so that the
// plain go test ./... of test-host does not run the tier twice.
var enabled = os.Getenv("IMPERMANENCE_ADVERSARIAL") == "1"

func TestMain(m *testing.M) {
	flag.Parse()
	if !enabled {
		fmt.Println("adversarial: skipped (make test-adversarial, or IMPERMANENCE_ADVERSARIAL=1)")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "adversarial-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	code := func() int {
		defer os.RemoveAll(dir)
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		code := m.Run()
		printCounts()
		return code
	}()
	os.Exit(code)
}

// programs are the binaries of the suite, by the name they are installed as.
var programs = map[string]string{
	"impermanence-diff": "helpers/diff", "impermanence-maintain": "helpers/maintain",
	"impermanence-provision": "helpers/provision", "impermanence-prune": "helpers/prune",
	"impermanence-restore": "helpers/restore", "impermanence-rollback": "helpers/rollback",
	"impermanence-send": "helpers/send", "impermanence-snapshot": "helpers/snapshot", "impermanence-tune": "helpers/tune",
	"server-impermanence-generator": "generator", "impermanence-exporter": "exporter",
	"impermanence-receive": "helpers/receive", "impermanence-status": "helpers/status", "impermanence-notify": "helpers/notify",
}

// build builds every binary into dir with one go build.
func build(dir string) error {
	var pkgs []string
	for _, p := range programs {
		pkgs = append(pkgs, "./"+p)
	}
	slices.Sort(pkgs)
	tmp := filepath.Join(dir, "build")
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-o", tmp + "/"}, pkgs...)...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	for name, p := range programs {
		if err := os.Rename(filepath.Join(tmp, filepath.Base(p)), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return os.Remove(tmp)
}

// need skips t unless the tier is enabled (and, with root, unless root).
func need(t *testing.T, root bool) {
	t.Helper()
	if !enabled {
		t.Skip("the adversarial tier: make test-adversarial")
	}
	if root && os.Geteuid() != 0 {
		t.Skip("needs root (a private mount namespace, loop devices)")
	}
}

var (
	countsMu sync.Mutex
	counts   = map[string]int{}
)

// count adds n cases to category.
func count(category string, n int) {
	countsMu.Lock()
	defer countsMu.Unlock()
	counts[category] += n
}

func printCounts() {
	countsMu.Lock()
	defer countsMu.Unlock()
	var cats []string
	total := 0
	for c, n := range counts {
		cats = append(cats, c)
		total += n
	}
	slices.Sort(cats)
	fmt.Println("adversarial: cases per category")
	for _, c := range cats {
		fmt.Printf("  %-22s %5d\n", c, counts[c])
	}
	fmt.Printf("  %-22s %5d\n", "total", total)
}

// result is how a run of a binary ended.
type result struct {
	code           int
	stdout, stderr string
}

// runTimeout bounds every run: a binary that hangs (a FIFO, a lock) fails
// its case instead of the tier.
const runTimeout = 20 * time.Second

// sandbox is a private root for the state the binaries keep on the host:
// with root, every run is in a private mount namespace where the test's
// directories are bind-mounted over /run, /var/lib and /var/log (the
// journal's socket is in /run, so the binaries log to stderr), so that a
// binary that wrongly writes writes there, where the test sees it.
type sandbox struct {
	dir string // holds run/, var-lib/, var-log/
}

var hostDirs = []struct{ sub, host string }{{"run", "/run"}, {"var-lib", "/var/lib"}, {"var-log", "/var/log"}}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	s := &sandbox{dir: t.TempDir()}
	for _, d := range hostDirs {
		if err := os.Mkdir(filepath.Join(s.dir, d.sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// host returns where the sandbox keeps host path p (/run, /var/lib, /var/log
// and beneath).
func (s *sandbox) host(p string) string {
	for _, d := range hostDirs {
		if rest, ok := strings.CutPrefix(p, d.host); ok && (rest == "" || rest[0] == '/') {
			return filepath.Join(s.dir, d.sub, rest)
		}
	}
	panic("sandbox: no " + p)
}

// run runs program with args in the sandbox, bounded by runTimeout.
func (s *sandbox) run(t *testing.T, program string, args ...string) result {
	t.Helper()
	return s.runIn(t, runTimeout, nil, program, args...)
}

func (s *sandbox) runIn(t *testing.T, timeout time.Duration, stdin []byte, program string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := s.command(ctx, program, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("%s %q: still running after %s (hangs)\n%s%s", program, args, timeout, out.String(), errb.String())
		return result{code: -1}
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	default:
		t.Errorf("%s %q: %v\n%s", program, args, err, errb.String())
		r.code = -1
	}
	return r
}

// command is program with args in the sandbox's namespace (without root:
// run as is; only the cases that cannot write run then).
func (s *sandbox) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	path := filepath.Join(bin, program)
	if s == nil || os.Geteuid() != 0 {
		cmd := exec.CommandContext(ctx, path, args...)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
		return cmd
	}
	script := `set -e; for d in run:/run var-lib:/var/lib var-log:/var/log; do mount --bind "$SANDBOX/${d%%:*}" "${d#*:}"; done; exec "$@"`
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", path}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "SANDBOX=" + s.dir}
	return cmd
}

// tree lists every path beneath dir with its type, mode and size: what a
// run changed on disk is the difference of two trees.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "run/mount" { // mount(8)'s own utab, not the binaries'
			return filepath.SkipDir
		}
		size := info.Size()
		if info.IsDir() {
			size = 0
		}
		out = append(out, fmt.Sprintf("%s %s %d", rel, info.Mode(), size))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tree of the sandbox (nil without one).
func (s *sandbox) tree(t *testing.T) []string {
	if s == nil {
		return nil
	}
	return tree(t, s.dir)
}

// parallel calls f(0) … f(n-1), two at a time.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func isRoot() bool { return os.Geteuid() == 0 }
