package receive

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/targetdir"
)

type rig struct {
	fs       *btrfstest.FS
	root     string
	out, err bytes.Buffer
	uuid     map[string]string
	stream   map[string][]byte
	now      time.Time
}

var snaps = []string{"20261201T100000Z", "20261202T100000Z", "20261203T100000Z"}

func newRig(t *testing.T) *rig {
	r := &rig{fs: btrfstest.New(t), uuid: map[string]string{}, stream: map[string][]byte{},
		now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	m := r.fs.Mount
	r.root = filepath.Join(m, "backup", "web1")
	os.MkdirAll(r.root, 0o755)
	os.MkdirAll(filepath.Join(m, "snaps"), 0o755)
	run(t, "btrfs", "subvolume", "create", filepath.Join(m, "src"))
	prev := ""
	for i, s := range snaps {
		os.WriteFile(filepath.Join(m, "src", s), bytes.Repeat([]byte{byte(i)}, 1000), 0o644)
		p := filepath.Join(m, "snaps", s)
		run(t, "btrfs", "subvolume", "snapshot", "-r", filepath.Join(m, "src"), p)
		info, err := targetdir.Info(p)
		if err != nil {
			t.Fatal(err)
		}
		r.uuid[s] = info.UUID.String()
		args := []string{"send", "-q"}
		if prev != "" {
			args = append(args, "-p", prev)
		}
		out, err := exec.Command("btrfs", append(args, p)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		r.stream[s], prev = out, p
	}
	return r
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// request runs the receiver as sshd would: the request in
// SSH_ORIGINAL_COMMAND, the stream on stdin.
func (r *rig) request(t *testing.T, req string, stdin []byte, args ...string) int {
	t.Helper()
	r.out.Reset()
	r.err.Reset()
	env := Env{Env: job.Env{Stdout: &r.out, Stderr: &r.err, Journal: func() bool { return false }, Now: func() time.Time { return r.now }},
		Stdin: bytes.NewReader(stdin), Getenv: func(k string) (string, bool) {
			if k == OriginalCommand && req != "" {
				return req, true
			}
			return "", false
		}}
	return Run(context.Background(), append([]string{"--root", r.root}, args...), env)
}

func (r *rig) events(t *testing.T) []string {
	t.Helper()
	evs, err := audit.Read(filepath.Join(r.root, AuditLog))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Action+" "+e.Result+" "+strings.TrimPrefix(e.Path, r.root))
	}
	return out
}

func TestListAndReceive(t *testing.T) {
	r := newRig(t)
	if code := r.request(t, "list @persist", nil); code != 0 || r.out.String() != "end 0\n" {
		t.Fatalf("list of nothing: exit %d, %q %s", code, r.out.String(), r.err.String())
	}
	for i, s := range snaps {
		req := "receive @persist " + s + " " + r.uuid[s]
		if code := r.request(t, req, r.stream[s]); code != 0 {
			t.Fatalf("receive %d: exit %d\n%s", i, code, r.err.String())
		}
		if want := "received " + s + " " + strconv.Itoa(len(r.stream[s])) + "\n"; r.out.String() != want {
			t.Errorf("reply %q, want %q", r.out.String(), want)
		}
	}
	r.request(t, "list @persist", nil)
	want := ""
	for _, s := range snaps {
		want += "snapshot " + s + " " + r.uuid[s] + "\n"
	}
	if want += "end 3\n"; r.out.String() != want {
		t.Errorf("list:\n%s\nwant\n%s", r.out.String(), want)
	}
	if got, err := os.ReadFile(filepath.Join(r.root, "@persist", snaps[2], snaps[1])); err != nil || len(got) != 1000 {
		t.Errorf("received file: %d bytes, %v", len(got), err)
	}
	// The request can also follow the options (no SSH_ORIGINAL_COMMAND).
	if code := r.request(t, "", nil, "list", "@persist"); code != 0 || r.out.String() != want {
		t.Errorf("list from the command line: exit %d\n%s", code, r.out.String())
	}
	wantEv := []string{"receive success /@persist/" + snaps[0], "receive success /@persist/" + snaps[1], "receive success /@persist/" + snaps[2]}
	if diff := cmp.Diff(wantEv, r.events(t)); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// Append-only: deleting, overwriting and escaping the root are refused and
// audited, and change nothing.
func TestRefusals(t *testing.T) {
	r := newRig(t)
	if code := r.request(t, "receive @persist "+snaps[0]+" "+r.uuid[snaps[0]], r.stream[snaps[0]]); code != 0 {
		t.Fatalf("receive: %s", r.err.String())
	}
	os.Symlink("/etc", filepath.Join(r.root, "@evil"))
	os.MkdirAll(filepath.Join(r.root, "@deep"), 0o755)
	os.Symlink("/", filepath.Join(r.root, "@deep", "link"))
	for _, tc := range []struct {
		req, stderr, event string
		stdin              []byte
	}{
		{req: "delete @persist " + snaps[0], stderr: "append-only", event: "request refused "},
		{req: "prune @persist", stderr: "append-only", event: "request refused "},
		{req: "receive @persist " + snaps[0] + " " + r.uuid[snaps[0]], stdin: r.stream[snaps[0]],
			stderr: "nothing is overwritten", event: "receive refused /@persist/" + snaps[0]},
		{req: "list ../../..", stderr: `component ".." is not`, event: "request refused "},
		{req: "list /etc", stderr: `component "" is not`, event: "request refused "},
		{req: "receive /etc " + snaps[1] + " " + r.uuid[snaps[1]], stdin: r.stream[snaps[1]], stderr: `component "" is not`, event: "request refused "},
		{req: "list @evil", stderr: "is a symbolic link", event: "list refused /@evil"},
		{req: "receive @evil " + snaps[1] + " " + r.uuid[snaps[1]], stdin: r.stream[snaps[1]], stderr: "is a symbolic link", event: "receive refused /@evil"},
		{req: "list @deep/link/etc", stderr: "is a symbolic link", event: "list refused /@deep/link/etc"},
		{req: "list .incoming", stderr: `component ".incoming" is not`, event: "request refused "},
		{req: "sh -c 'cat /etc/shadow'", stderr: "unknown request", event: "request refused "},
	} {
		before := len(r.events(t))
		code := r.request(t, tc.req, tc.stdin)
		if code != job.ExitFailure || !strings.Contains(r.err.String(), "refused: ") || !strings.Contains(r.err.String(), tc.stderr) || r.out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 1 and %q", tc.req, code, r.out.String(), r.err.String(), tc.stderr)
		}
		evs := r.events(t)
		if len(evs) != before+1 || evs[before] != tc.event {
			t.Errorf("%q: audit %v, want a last event %q", tc.req, evs[before:], tc.event)
		}
	}
	r.request(t, "list @persist", nil)
	if want := "snapshot " + snaps[0] + " " + r.uuid[snaps[0]] + "\nend 1\n"; r.out.String() != want {
		t.Errorf("after the refusals:\n%s", r.out.String())
	}
	if _, err := os.Lstat("/etc/" + snaps[1]); err == nil {
		t.Errorf("a snapshot landed in /etc")
	}
}

func TestUsage(t *testing.T) {
	r := newRig(t)
	for _, args := range [][]string{{"--root", "relative"}, {"--root", "/a/../b"}, {}, {"--dry-run"}} {
		r.err.Reset()
		env := Env{Env: job.Env{Stdout: &r.out, Stderr: &r.err, Journal: func() bool { return false }},
			Getenv: func(string) (string, bool) { return "", false }}
		if code := Run(context.Background(), args, env); code != job.ExitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, r.err.String())
		}
	}
	if code := r.request(t, "", nil); code != job.ExitUsage {
		t.Errorf("no request: exit %d", code)
	}
	if code := r.request(t, "list @persist", nil, "list", "@persist"); code != job.ExitUsage {
		t.Errorf("two requests: exit %d", code)
	}
}
