package provision

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/job"
)

func dpkgStatus(t *testing.T, dir string, pkgs ...string) {
	t.Helper()
	var b strings.Builder
	for _, p := range pkgs {
		n, v, _ := strings.Cut(p, "=")
		b.WriteString("Package: " + n + "\nStatus: install ok installed\nVersion: " + v + "\nArchitecture: all\n\n")
	}
	if err := os.MkdirAll(filepath.Join(dir, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "var/lib/dpkg/status"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestProvisionListBlanks(t *testing.T) {
	h, fsys := newHost(t)
	// The first blank (from @installed) has no dpkg status; the live root
	// gets one before each commit.
	dpkgStatus(t, filepath.Join(h.tfs.Mount, "@root"), "base=1", "old=1")
	if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
		t.Fatalf("commit exit %d\n%s%s", code, out, stderr)
	}
	dpkgStatus(t, filepath.Join(h.tfs.Mount, "@root"), "base=2", "new=1")
	h.now = at(1)
	if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
		t.Fatalf("commit exit %d\n%s%s", code, out, stderr)
	}
	before := subvolumes(t, fsys)
	code, out, stderr := h.run(t, "--list-blanks", "--json")
	if code != job.ExitOK {
		t.Fatalf("--list-blanks exit %d\n%s%s", code, out, stderr)
	}
	var l blankList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	type row struct {
		Name     string
		Roles    []string
		Packages *blanks.PackageDiff
	}
	var got []row
	for _, e := range l.Entries {
		got = append(got, row{e.Name, e.Roles, e.Packages})
	}
	want := []row{
		{blank, []string{"current", "trial 0/2"}, &blanks.PackageDiff{Added: []string{"new=1"}, Removed: []string{"old=1"}, Changed: []string{"base=1→2"}}},
		{former(1), []string{}, nil},
		{former(0), []string{"running", "fallback"}, nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("--list-blanks --json entries (-want +got):\n%s", diff)
	}
	if l.Subvolume != "@root" || l.Keep != 3 || l.Tries != 2 || l.Trial == nil {
		t.Errorf("--list-blanks = %+v", l)
	}
	// The second entry has a status file but the third has none: no diff.
	code, out, _ = h.run(t, "--list-blanks")
	for _, w := range []string{"blanks of @root (keep 3 former, 2 trial boot(s))", "NAME", "current, trial 0/2",
		"running, fallback", blank + ": + new=1", blank + ": - old=1", blank + ": ~ base=1→2", "+1 -1 ~1"} {
		if !strings.Contains(out, w) {
			t.Errorf("--list-blanks lacks %q:\n%s", w, out)
		}
	}
	unchanged(t, before, subvolumes(t, fsys))
	if code != job.ExitOK {
		t.Errorf("exit %d", code)
	}
}

func TestProvisionMarkGood(t *testing.T) {
	h, _ := newHost(t)
	code, out, _ := h.run(t, "--mark-good")
	if code != job.ExitOK || !strings.Contains(out, "no blank on trial") {
		t.Errorf("--mark-good without a trial: exit %d\n%s", code, out)
	}
	if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
		t.Fatalf("commit exit %d\n%s%s", code, out, stderr)
	}
	tr := readTrial(t, h.tfs)
	runDir := job.Env{Root: h.root}.RunDir()
	write := func(c blanks.Choice) {
		t.Helper()
		if err := blanks.WriteStatus(runDir, blanks.Status{Choices: []blanks.Choice{c}}); err != nil {
			t.Fatal(err)
		}
	}
	// Not a trial boot (the rollback of this boot has not run since the
	// commit), then a fallback boot: nothing marked.
	for _, c := range []*blanks.Choice{nil,
		{Subvolume: "@root", Blank: blank, From: former(0), UUID: tr.FallbackUUID, Source: blanks.SourceFallback},
		{Subvolume: "@root", Blank: blank, From: blank, UUID: "another", Source: blanks.SourceTrial},
	} {
		if c != nil {
			write(*c)
		}
		code, out, stderr := h.run(t, "--mark-good")
		if code != job.ExitOK || !strings.Contains(out, "nothing marked") || readTrial(t, h.tfs) == nil {
			t.Errorf("--mark-good after %+v: exit %d\n%s%s", c, code, out, stderr)
		}
	}
	write(blanks.Choice{Subvolume: "@root", Blank: blank, From: blank, UUID: tr.UUID, Source: blanks.SourceTrial})
	if code, out, _ := h.run(t, "--mark-good", "--dry-run"); code != job.ExitOK || !strings.Contains(out, "would mark") || readTrial(t, h.tfs) == nil {
		t.Errorf("--mark-good --dry-run: exit %d\n%s", code, out)
	}
	code, out, stderr := h.run(t, "--mark-good")
	if code != job.ExitOK || !strings.Contains(out, "@root-blank is good") || readTrial(t, h.tfs) != nil {
		t.Errorf("--mark-good on a trial boot: exit %d\n%s%s", code, out, stderr)
	}
	log, _ := os.ReadFile(job.Env{Root: h.root}.AuditPath())
	if !strings.Contains(string(log), `"action":"blank-good","subvolume":"@root","path":"@root-blank","result":"success"`) {
		t.Errorf("audit log lacks blank-good:\n%s", log)
	}
	// A commit clears the fallback of this boot's status.
	write(blanks.Choice{Subvolume: "@root", Blank: blank, From: former(0), Source: blanks.SourceFallback, Fallback: true})
	h.now = at(1)
	if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
		t.Fatalf("commit exit %d\n%s%s", code, out, stderr)
	}
	st, _, _ := blanks.ReadStatus(runDir)
	if len(st.Choices) != 1 || st.Choices[0].Fallback || st.Choices[0].History != 2 {
		t.Errorf("status after a commit = %+v, want no fallback and 2 former blanks", st)
	}
}

func TestProvisionBlankModesExclusive(t *testing.T) {
	for _, args := range [][]string{{"--commit", "--list-blanks"}, {"--mark-good", "--list-blanks"}, {"--replace-blank", "--mark-good", "--blank-from", "@root"}} {
		code, _, stderr := runProvision(t, nil, append([]string{"--default"}, args...)...)
		if code != job.ExitUsage || !strings.Contains(stderr, "exclude each other") {
			t.Errorf("%v: exit %d, %s", args, code, stderr)
		}
	}
}

// bootFiles replaces the /boot of the root at dir with empty files of
// those names.
func bootFiles(t *testing.T, dir string, files ...string) {
	t.Helper()
	boot := filepath.Join(dir, "boot")
	if err := os.RemoveAll(boot); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(boot, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(boot, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestProvisionListBlanksTSV checks --list-blanks --tsv, the listing the
// GRUB menu script reads: one line per blank, each blank's own newest
// kernel with an initrd, the request that boots it, and the usage errors.
func TestProvisionListBlanksTSV(t *testing.T) {
	h, _ := newHost(t)
	root := filepath.Join(h.tfs.Mount, "@root")
	bootFiles(t, root, "vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64")
	if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
		t.Fatalf("commit exit %d\n%s%s", code, out, stderr)
	}
	bootFiles(t, root, "vmlinuz-6.1.0-9-amd64", "initrd.img-6.1.0-9-amd64", "vmlinuz-6.1.0-26-amd64", "initrd.img-6.1.0-26-amd64")
	if err := os.Symlink("vmlinuz-6.1.0-26-amd64", filepath.Join(root, "boot/vmlinuz-9.9")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "boot/initrd.img-9.9"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.now = at(1)
	if code, out, stderr := h.run(t, "--commit"); code != job.ExitOK {
		t.Fatalf("commit exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := h.run(t, "--list-blanks", "--tsv")
	if code != job.ExitOK {
		t.Fatalf("--list-blanks --tsv exit %d\n%s%s", code, out, stderr)
	}
	var got [][]string
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 11 {
			t.Fatalf("--tsv line %q has %d fields, want 11", l, len(f))
		}
		if _, err := time.Parse(time.RFC3339, f[3]); err != nil {
			t.Errorf("--tsv committed %q: %v", f[3], err)
		}
		if _, err := strconv.ParseUint(f[4], 10, 64); err != nil {
			t.Errorf("--tsv generation %q: %v", f[4], err)
		}
		got = append(got, append(f[:3:3], f[5:]...))
	}
	want := [][]string{
		{"@root", blank, "current", "ro", "current,trial 0/2", "-", "6.1.0-26-amd64", "boot/vmlinuz-6.1.0-26-amd64", "boot/initrd.img-6.1.0-26-amd64"},
		{"@root", former(1), "former", "ro", "-", former(1), "6.1.0-9-amd64", "boot/vmlinuz-6.1.0-9-amd64", "boot/initrd.img-6.1.0-9-amd64"},
		{"@root", former(0), "former", "ro", "running,fallback", former(0), "-", "-", "-"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("--list-blanks --tsv (-want +got):\n%s", diff)
	}

	_, out, _ = h.run(t, "--list-blanks", "--json")
	var l blankList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	wantK := []*blanks.Kernel{
		{Version: "6.1.0-26-amd64", Linux: "boot/vmlinuz-6.1.0-26-amd64", Initrd: "boot/initrd.img-6.1.0-26-amd64"},
		{Version: "6.1.0-9-amd64", Linux: "boot/vmlinuz-6.1.0-9-amd64", Initrd: "boot/initrd.img-6.1.0-9-amd64"},
		nil,
	}
	var gotK []*blanks.Kernel
	for _, e := range l.Entries {
		gotK = append(gotK, e.Kernel)
	}
	if diff := cmp.Diff(wantK, gotK); diff != "" {
		t.Errorf("--list-blanks --json kernels (-want +got):\n%s", diff)
	}

	for _, args := range [][]string{{"--tsv"}, {"--list-blanks", "--tsv", "--json"}, {"--mark-good", "--tsv"}} {
		if code, out, stderr := h.run(t, args...); code != job.ExitUsage || !strings.Contains(stderr, "--tsv goes with --list-blanks") {
			t.Errorf("%q: exit %d, want %d\n%s%s", args, code, job.ExitUsage, out, stderr)
		}
	}
}
