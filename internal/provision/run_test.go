package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

// runProvision runs the program on the top level of tfs and returns its
// exit code, stdout and stderr.
func runProvision(t *testing.T, tfs *btrfstest.FS, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if tfs != nil {
		args = append([]string{"--mount", tfs.Mount}, args...)
	}
	code := Run(context.Background(), args, job.Env{Stdout: &out, Stderr: &errb, Root: t.TempDir()})
	return code, out.String(), errb.String()
}

func open(t *testing.T, tfs *btrfstest.FS) *btrfs.FS {
	t.Helper()
	fsys, err := btrfs.Open(tfs.Mount)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsys.Close() })
	return fsys
}

func subvolumes(t *testing.T, fsys *btrfs.FS) map[string]btrfs.Subvolume {
	t.Helper()
	subs, err := fsys.List()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]btrfs.Subvolume{}
	for _, s := range subs {
		m[s.Path] = s
	}
	return m
}

// installedRoot makes subvolume name stand for an installed root: a
// subvolume without properties holding a file "marker".
func installedRoot(t *testing.T, tfs *btrfstest.FS, fsys *btrfs.FS, name string) {
	t.Helper()
	if err := fsys.CreateSubvolume(name); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tfs.Mount, name, "marker"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestProvisionEmptyFilesystem(t *testing.T) {
	tfs := btrfstest.New(t)
	code, out, stderr := runProvision(t, tfs, "--default")
	if code != job.ExitOK {
		t.Fatalf("provision exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	fsys := open(t, tfs)
	subs := subvolumes(t, fsys)
	for _, name := range []string{"@root-blank", "@root", "@var-cache", "@var-tmp", "@nix", "@persist", "@var-log",
		"@var-lib-services", "@var-lib-caddy", "@var-backup", "@var-lib-containers", "@snapshots"} {
		if _, ok := subs[name]; !ok {
			t.Errorf("subvolume %s missing after provision; have %v", name, subs)
		}
	}
	if len(subs) != 12 {
		t.Errorf("provision made %d subvolumes, want 12 (no leftovers)", len(subs))
	}
	if !subs["@root-blank"].ReadOnly || subs["@root"].ReadOnly {
		t.Errorf("@root-blank ro=%t @root ro=%t, want a read-only blank and a writable root", subs["@root-blank"].ReadOnly, subs["@root"].ReadOnly)
	}
	if subs["@root"].ParentUUID != subs["@root-blank"].UUID {
		t.Errorf("@root is not a snapshot of @root-blank")
	}
	// NoCoW as the kernel reports it (lsattr), compression as btrfs-progs sees it.
	for name, want := range map[string]string{"@var-tmp": "C", "@var-lib-containers": "C", "@nix": "-", "@root": "-"} {
		attrs := strings.Fields(sh(t, "lsattr", "-d", filepath.Join(tfs.Mount, name)))[0]
		if got := strings.Contains(attrs, "C"); got != (want == "C") {
			t.Errorf("lsattr %s = %s, want NoCoW=%t", name, attrs, want == "C")
		}
	}
	for name, want := range map[string]string{"@nix": "compression=zstd", "@root": "compression=zstd", "@var-tmp": ""} {
		if got := sh(t, "btrfs", "property", "get", filepath.Join(tfs.Mount, name), "compression"); got != want {
			t.Errorf("btrfs property get %s compression = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{"@snapshots": "0:0 700", "old_roots": "0:0 700", "old_roots/@root": "0:0 700"} {
		if got := sh(t, "stat", "-c", "%u:%g %a", filepath.Join(tfs.Mount, name)); got != want {
			t.Errorf("stat %s = %q, want %q", name, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(tfs.Mount, "old_roots")); err != nil || fi.Sys() == nil {
		t.Fatal(err)
	}
	if _, ok := subs["old_roots"]; ok {
		t.Error("old_roots is a subvolume, want a plain directory")
	}
	if !strings.Contains(out, "layout:") || !strings.Contains(out, "@root-blank") {
		t.Errorf("output lacks the layout:\n%s", out)
	}
}

func TestProvisionTwiceChangesNothing(t *testing.T) {
	tfs := btrfstest.New(t)
	if code, out, stderr := runProvision(t, tfs, "--default"); code != job.ExitOK {
		t.Fatalf("first run exit %d\n%s%s", code, out, stderr)
	}
	fsys := open(t, tfs)
	before := subvolumes(t, fsys)
	code, out, stderr := runProvision(t, tfs, "--default")
	if code != job.ExitOK {
		t.Fatalf("second run exit %d, want 0\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "nothing to create") {
		t.Errorf("second run output does not say nothing to create:\n%s", out)
	}
	if diff := cmp.Diff(before, subvolumes(t, fsys)); diff != "" {
		t.Errorf("second run changed subvolumes (-before +after):\n%s", diff)
	}
}

func TestProvisionPartialLayoutAndMismatches(t *testing.T) {
	tfs := btrfstest.New(t)
	fsys := open(t, tfs)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Part of the layout exists: a good @persist with data, a writable
	// blank, @nix with another compression, a directory where @var-log
	// belongs, and a subvolume where the archive directory belongs.
	must(fsys.CreateSubvolume("@persist"))
	must(os.WriteFile(filepath.Join(tfs.Mount, "@persist/keep"), []byte("data"), 0o600))
	must(fsys.SetCompression("@persist", "zstd"))
	must(fsys.CreateSubvolume("@root-blank"))
	must(fsys.CreateSubvolume("@nix"))
	must(fsys.SetCompression("@nix", "lzo"))
	must(os.Mkdir(filepath.Join(tfs.Mount, "@var-log"), 0o755))
	must(fsys.CreateSubvolume("old_roots"))
	must(fsys.Commit())
	before := subvolumes(t, fsys)

	code, out, stderr := runProvision(t, tfs, "--default")
	if code != job.ExitMismatch {
		t.Fatalf("exit %d, want %d (mismatch)\n%s%s", code, job.ExitMismatch, out, stderr)
	}
	for _, want := range []string{
		"mismatch: @root-blank: want read-only, found writable",
		`warning: @nix: want compression property "zstd", found "lzo" (applied by server-impermanence-tune.service at boot; affects new writes only)`,
		"mismatch: @var-log: want a subvolume, found a directory",
		"mismatch: old_roots: want a plain directory, found a subvolume",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "mismatch: @nix") {
		t.Errorf("the compression property of @nix is reported as a mismatch:\n%s", out)
	}
	after := subvolumes(t, fsys)
	for name, s := range before {
		// The generation moves with any metadata update (atime of a
		// readdir, a snapshot taken of it); identity and flags must not.
		a := after[name]
		s.Generation, a.Generation = 0, 0
		if diff := cmp.Diff(s, a); diff != "" {
			t.Errorf("existing subvolume %s changed (-before +after):\n%s", name, diff)
		}
	}
	if got, _ := fsys.Compression("@nix"); got != "lzo" {
		t.Errorf("@nix compression = %q, want lzo left alone", got)
	}
	if b, err := os.ReadFile(filepath.Join(tfs.Mount, "@persist/keep")); err != nil || string(b) != "data" {
		t.Errorf("@persist/keep = %q, %v; want data untouched", b, err)
	}
	if _, ok := after["@root"]; ok {
		t.Error("@root was created from the writable (mismatching) blank")
	}
	for _, name := range []string{"@var-lib-containers", "@snapshots", "@var-tmp"} {
		if _, ok := after[name]; !ok {
			t.Errorf("missing subvolume %s was not created", name)
		}
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "old_roots/@root")); err == nil {
		t.Error("old_roots/@root created inside the mismatching old_roots subvolume")
	}
}

// A root installed by the Debian installer: no compression property where
// the configuration has one. Provision creates the rest and the blank, and
// warns (exit 0): the rollback sets the property at the next boot.
func TestProvisionInstalledRootWithoutCompression(t *testing.T) {
	tfs := btrfstest.New(t)
	fsys := open(t, tfs)
	installedRoot(t, tfs, fsys, "@root")
	const warning = `@root: want compression property "zstd", found "" (applied at the next boot by the rollback; affects new writes only)`
	for _, args := range [][]string{
		{"--default", "--blank-from", "@root", "--dry-run"},
		{"--default", "--blank-from", "@root"},
		{"--default"},
	} {
		code, out, stderr := runProvision(t, tfs, args...)
		if code != job.ExitOK {
			t.Fatalf("provision %v = exit %d, want 0\n%s%s", args, code, out, stderr)
		}
		if !strings.Contains(out, "warning: "+warning+"\n") || strings.Contains(out, "mismatch:") {
			t.Errorf("provision %v output, want the warning %q and no mismatch:\n%s", args, warning, out)
		}
	}
	code, out, stderr := runProvision(t, tfs, "--default", "--json")
	if code != job.ExitOK {
		t.Fatalf("provision --json = exit %d, want 0\n%s%s", code, out, stderr)
	}
	var rep struct {
		Mismatches []Mismatch
		Warnings   []string
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	if len(rep.Mismatches) != 0 || !slices.Contains(rep.Warnings, warning) {
		t.Errorf("--json: mismatches %v, warnings %q; want none and %q", rep.Mismatches, rep.Warnings, warning)
	}
	if got, _ := fsys.Compression("@root"); got != "" {
		t.Errorf("@root compression = %q, want it left alone", got)
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "@root-blank/marker")); err != nil {
		t.Errorf("@root-blank is not a snapshot of the installed root: %v", err)
	}
}

func TestProvisionDryRunChangesNothing(t *testing.T) {
	tfs := btrfstest.New(t)
	fsys := open(t, tfs)
	code, out, stderr := runProvision(t, tfs, "--default", "--dry-run")
	if code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "would provision (dry run) 14 item(s)") || !strings.Contains(out, "create subvolume @var-tmp [nocow]") {
		t.Errorf("dry-run output:\n%s", out)
	}
	if subs := subvolumes(t, fsys); len(subs) != 0 {
		t.Errorf("dry run created %v", subs)
	}
	if entries, _ := os.ReadDir(tfs.Mount); len(entries) != 0 {
		t.Errorf("dry run left %v in the top level", entries)
	}
}

func TestProvisionBlankFromDirectory(t *testing.T) {
	tfs := btrfstest.New(t)
	src := t.TempDir()
	for path, body := range map[string]string{"etc/hostname": "demo\n", "usr/bin/true": "#!/bin/sh\n"} {
		p := filepath.Join(src, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(src, "etc/hostname"), filepath.Join(src, "etc/hostname.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(src, "bin")); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runProvision(t, tfs, "--default", "--blank-from", src)
	if code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if strings.Contains(out, "created empty") {
		t.Errorf("warned about an empty blank although one was captured:\n%s", out)
	}
	subs := subvolumes(t, open(t, tfs))
	if !subs["@root-blank"].ReadOnly {
		t.Error("captured blank is writable")
	}
	for _, sub := range []string{"@root-blank", "@root"} {
		b, err := os.ReadFile(filepath.Join(tfs.Mount, sub, "etc/hostname"))
		if err != nil || string(b) != "demo\n" {
			t.Errorf("%s/etc/hostname = %q, %v; want the captured file", sub, b, err)
		}
		if l, err := os.Readlink(filepath.Join(tfs.Mount, sub, "bin")); err != nil || l != "usr/bin" {
			t.Errorf("%s/bin symlink = %q, %v", sub, l, err)
		}
		a, _ := os.Stat(filepath.Join(tfs.Mount, sub, "etc/hostname"))
		b2, _ := os.Stat(filepath.Join(tfs.Mount, sub, "etc/hostname.link"))
		if a == nil || b2 == nil || !os.SameFile(a, b2) {
			t.Errorf("%s: hard link not preserved", sub)
		}
	}
	if err := os.WriteFile(filepath.Join(tfs.Mount, "@root-blank/x"), nil, 0o644); err == nil {
		t.Error("wrote into the read-only blank")
	}
}

func TestProvisionBlankFromSubvolume(t *testing.T) {
	tfs := btrfstest.New(t)
	fsys := open(t, tfs)
	installedRoot(t, tfs, fsys, "@installed")
	if code, out, stderr := runProvision(t, tfs, "--default", "--blank-from", "@installed"); code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	subs := subvolumes(t, fsys)
	if !subs["@root-blank"].ReadOnly || subs["@root-blank"].ParentUUID != subs["@installed"].UUID {
		t.Errorf("@root-blank = %+v, want a read-only snapshot of @installed", subs["@root-blank"])
	}
	if _, err := os.Stat(filepath.Join(tfs.Mount, "@root/marker")); err != nil {
		t.Errorf("@root does not start from the captured blank: %v", err)
	}
}

func TestProvisionRemovesLeftoverOfInterruptedRun(t *testing.T) {
	tfs := btrfstest.New(t)
	fsys := open(t, tfs)
	// An interrupted run: @nix half-built under its temporary name.
	if err := fsys.CreateSubvolume("@nix" + TempSuffix); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runProvision(t, tfs, "--default"); code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	subs := subvolumes(t, fsys)
	if _, ok := subs["@nix"+TempSuffix]; ok {
		t.Error("leftover @nix.provisioning still there")
	}
	if got, _ := fsys.Compression("@nix"); got != "zstd" {
		t.Errorf("@nix compression = %q, want zstd on the rebuilt subvolume", got)
	}
}

func TestProvisionMountsDeviceItself(t *testing.T) {
	tfs := btrfstest.New(t)
	var out, errb bytes.Buffer
	env := job.Env{Stdout: &out, Stderr: &errb, Root: t.TempDir()}
	runDir := env.RunDir()
	code := Run(context.Background(), []string{"--default", "--device", tfs.Device, "--json"}, env)
	if code != job.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	var rep struct {
		Done   int
		Layout []LayoutRow
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out.String())
	}
	if rep.Done != 14 || len(rep.Layout) != 12 {
		t.Errorf("--json: done %d, %d layout rows; want 14 and 12", rep.Done, len(rep.Layout))
	}
	mounts, err := mountinfo.Read("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if m.Mountpoint == runDir || strings.HasPrefix(m.Mountpoint, runDir+"/") {
			t.Errorf("private top-level mount at %s left mounted", m.Mountpoint)
		}
	}
	// Only the lock directory stays in the run directory.
	if entries, _ := os.ReadDir(runDir); len(entries) != 1 || entries[0].Name() != "lock" {
		t.Errorf("mount dir left in %s: %v", runDir, entries)
	}
}

func TestProvisionUsageAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(bad, []byte("mode = \"fast\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"--help"}, job.ExitOK, "Usage: impermanence-provision"},
		{[]string{"--bogus"}, job.ExitUsage, "flag provided but not defined"},
		{[]string{"extra"}, job.ExitUsage, `unexpected argument "extra"`},
		{[]string{"--default", "--replace-blank"}, job.ExitUsage, "--replace-blank needs --blank-from"},
		{[]string{"--default", "--blank-from", "@root-blank.provisioning"}, job.ExitUsage, "is a leftover"},
		{[]string{"--config", filepath.Join(dir, "missing.toml")}, job.ExitFailure, "no configuration file"},
		{[]string{"--config", bad}, job.ExitFailure, bad + `:1:1: mode: "fast" is not a mode`},
	}
	for _, tt := range tests {
		code, _, stderr := runProvision(t, nil, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.inStderr) {
			t.Errorf("provision %v = exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.inStderr)
		}
	}
}
