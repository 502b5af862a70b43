package tune

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeHost holds the directories of testdata/mountinfo's mounts and records
// every write.
type fakeHost struct {
	dirs   map[string]*fakeDir
	writes []string
	// root holds the mode's drop-in and /proc/sys (sysRoot), made by the
	// first run.
	root string
}

type fakeDir struct {
	host        *fakeHost
	path        string
	mountID     int
	nocow       bool
	compression string
	setErr      error // every write fails with it
}

func (d *fakeDir) MountID() (int, error)        { return d.mountID, nil }
func (d *fakeDir) Compression() (string, error) { return d.compression, nil }
func (d *fakeDir) NoCoW() (bool, error)         { return d.nocow, nil }
func (d *fakeDir) Close() error                 { return nil }

func (d *fakeDir) SetCompression(algo string) error {
	d.host.writes = append(d.host.writes, fmt.Sprintf("%s compression=%s", d.path, algo))
	if d.setErr != nil {
		return fmt.Errorf("set compression %q on %s: %w", algo, d.path, d.setErr)
	}
	d.compression = algo
	return nil
}

func (d *fakeDir) SetNoCoW() error {
	d.host.writes = append(d.host.writes, d.path+" nocow")
	if d.setErr != nil {
		return fmt.Errorf("set NoCoW on %s: %w", d.path, d.setErr)
	}
	d.nocow = true
	return nil
}

func (h *fakeHost) open(path string) (Dir, error) {
	d, ok := h.dirs[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: unix.ENOENT}
	}
	return d, nil
}

// newHost returns the directories behind testdata/config.toml's
// mountpoints, each with the mount id of testdata/mountinfo it belongs to.
func newHost() *fakeHost {
	h := &fakeHost{dirs: map[string]*fakeDir{}}
	add := func(path string, mountID int, nocow bool, compression string, setErr error) {
		h.dirs[path] = &fakeDir{host: h, path: path, mountID: mountID, nocow: nocow, compression: compression, setErr: setErr}
	}
	add("/", 22, false, "zstd", nil)
	add("/persist", 30, false, "", nil)
	add("/nix", 31, false, "no", nil)
	add("/var/tmp", 32, false, "", nil)
	add("/var/lib/containers", 33, true, "", nil)
	add("/var/log", 22, false, "", nil) // a directory of the root
	add("/home", 35, false, "", nil)    // the tmpfs over @home
	add("/srv", 36, false, "", nil)
	add("/var/cache", 37, false, "", nil)
	add("/mnt/top", 38, false, "", nil)
	add("/var/lib/db", 39, false, "", unix.EPERM)
	add("/var/lib/vm", 40, false, "zstd", nil)
	return h
}

func runFake(t *testing.T, h *fakeHost, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	// Root holds the mode's drop-in and a /proc/sys: a test never writes
	// the host's kernel parameters.
	if h.root == "" {
		h.root = sysRoot(t, kernel)
	}
	root := h.root
	env := Env{Env: job.Env{Root: root, Stdout: &out, Stderr: &errb, Mountinfo: "testdata/mountinfo", Journal: func() bool { return false }}, Open: h.open}
	code = Run(context.Background(), append([]string{"--config", "testdata/config.toml"}, args...), env)
	if diff := cmp.Diff(kernelAfter(args), readTree(t, root)); diff != "" {
		t.Errorf("/proc/sys afterwards (-want +got):\n%s", diff)
	}
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/tune -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got; go test ./internal/tune -update rewrites it):\n%s", name, diff)
	}
}

// TestRunGolden runs impermanence-tune over every case of
// testdata/config.toml: the text and JSON reports, what was written, the
// log, and that a second run changes nothing.
func TestRunGolden(t *testing.T) {
	h := newHost()
	out, stderr, code := runFake(t, h)
	if code != 1 {
		t.Errorf("exit %d, want 1 (two subvolumes failed)\n%s", code, stderr)
	}
	golden(t, "run.golden", out)
	wantWrites := []string{"/persist compression=zstd", "/nix compression=none", "/var/tmp nocow", "/var/lib/db compression=zstd"}
	if diff := cmp.Diff(wantWrites, h.writes); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	// Every failure names the subvolume, the mountpoint and the operation;
	// the log carries the MESSAGE_IDs (stderr: no journal in tests).
	for _, want := range []string{
		`impermanence-tune: subvolume @db at /var/lib/db: set compression "zstd" on /var/lib/db: operation not permitted`,
		`subvolume @vm at /var/lib/vm: the kernel refuses NoCoW on a directory with a compression property ("zstd")`,
		"level=INFO msg=\"@persist at /persist: compression=zstd set (was unset)\" subvolume=@persist mountpoint=/persist property=compression result=changed value=zstd MESSAGE_ID=" + msgid.TuneChanged + " previous=unset",
		"level=WARN msg=\"@srv at /srv: compression=zstd not applied: /srv is a mount of /@other, not of subvolume @srv\"",
		"level=ERROR msg=\"@db at /var/lib/db: compression=zstd failed: set compression \\\"zstd\\\" on /var/lib/db: operation not permitted\"",
		"MESSAGE_ID=" + msgid.TuneNotApplied,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "result=unchanged") {
		t.Errorf("unchanged subvolumes are logged:\n%s", stderr)
	}

	h.writes = nil
	out, _, code = runFake(t, h, "--json")
	if code != 1 {
		t.Errorf("second run: exit %d, want 1 (the same two failures)", code)
	}
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if n := rep.Count(StatusChanged) + rep.CountParams(StatusChanged); n != 0 || len(h.writes) != 1 || h.writes[0] != "/var/lib/db compression=zstd" {
		t.Errorf("second run: %d changed, writes %q; want none but the retry of the failed write", n, h.writes)
	}
	golden(t, "second-run.json.golden", out)
}

func TestRunDryRunGolden(t *testing.T) {
	h := newHost()
	out, stderr, code := runFake(t, h, "--dry-run")
	if code != 1 {
		t.Errorf("exit %d, want 1 (@vm cannot be made NoCoW)\n%s", code, stderr)
	}
	if len(h.writes) != 0 {
		t.Errorf("--dry-run wrote %q", h.writes)
	}
	if strings.Contains(stderr, "level=") {
		t.Errorf("--dry-run logged:\n%s", stderr)
	}
	golden(t, "dry-run.golden", out)
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{[]string{"--help"}, 0, "Usage: impermanence-tune"},
		{[]string{"--version"}, 0, "impermanence-tune"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--config", "testdata/missing.toml"}, 1, "no configuration file"},
	} {
		var out, errb bytes.Buffer
		code := Run(context.Background(), tc.args, Env{Env: job.Env{Root: sysRoot(t, kernel), Stdout: &out, Stderr: &errb, Journal: func() bool { return false }}, Open: newHost().open})
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("Run(%q) = %d, output %q; want %d and %q", tc.args, code, out.String()+errb.String(), tc.code, tc.out)
		}
	}
}
