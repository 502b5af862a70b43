package send

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/btrfstest"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/provision"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
)

// lostServerSteps returns the commands of docs/replication.md's
// "Restoring a lost server" block, one per line.
func lostServerSteps(t *testing.T) [][]string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/replication.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Restoring a lost server\n.*?```sh\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/replication.md has no sh block under \"## Restoring a lost server\"")
	}
	var steps [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(m[1])), "\n") {
		steps = append(steps, strings.Fields(line))
	}
	return steps
}

// The whole lost-server procedure, exactly as docs/replication.md gives
// it: server A with every permanent subvolume of the default layout that
// has snapshots, replicated to the local target B by impermanence-send;
// then a brand-new filesystem C, provisioned by impermanence-provision,
// and every subvolume restored from B by the documented commands (the
// reboot is the initrd's staged restores: --apply-requests). Every file
// of every subvolume on C equals the source snapshot.
func TestRestoreLostServer(t *testing.T) {
	r := newRig(t, "{ keep_min = 100 }")
	b, _ := os.ReadFile(r.config)
	os.WriteFile(r.config, []byte(strings.Replace(string(b), "subvolumes = [\"@persist\"]\n", "", 1)), 0o644)
	subvolumes := []string{"@persist", "@var-log", "@var-lib-services", "@var-lib-caddy"}
	var newest string
	for round := range 2 {
		for i, sv := range subvolumes {
			p := filepath.Join(r.src.FS.Mount, sv, "data", fmt.Sprint(round))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, random(128<<10, uint64(300+10*round+i)), 0o640); err != nil {
				t.Fatal(err)
			}
		}
		r.now = r.now.Add(1e9 * 3600)
		r.src.Reset()
		if code := snapshot.Run(context.Background(), append(r.args(), subvolumes...), r.src.Env); code != 0 {
			t.Fatalf("snapshot: exit %d\n%s%s", code, r.src.Out, r.src.Err)
		}
		newest = r.now.UTC().Format("20060102T150405Z")
		r.send(t, 0)
	}
	want := map[string]map[string]string{}
	for _, sv := range subvolumes {
		want[sv] = tree(t, filepath.Join(r.src.FS.Mount, "@snapshots", sv, newest))
		if len(want[sv]) != 2 {
			t.Fatalf("source snapshot %s/%s: %d files", sv, newest, len(want[sv]))
		}
	}

	// The new server: a blank filesystem, the same configuration.
	c := btrfstest.New(t)
	env := job.Env{Stdout: &jobtest.SyncBuffer{}, Stderr: &jobtest.SyncBuffer{}, Root: t.TempDir(), Journal: func() bool { return false }}
	progs := map[string]func(context.Context, []string, job.Env) int{
		"impermanence-provision": provision.Run, "impermanence-send": Run, "impermanence-restore": restore.Run,
	}
	steps := lostServerSteps(t)
	if n := len(steps); n < 4 || steps[n-1][0] != "reboot" {
		t.Fatalf("the documented procedure %q does not end with reboot", steps)
	}
	restored := map[string]bool{}
	for _, step := range steps {
		if step[0] == "reboot" {
			step = []string{"impermanence-restore", "--apply-requests"}
		}
		run, ok := progs[step[0]]
		if !ok {
			t.Fatalf("the documented step %q runs no program this test knows", step)
		}
		args := []string{}
		for _, a := range step[1:] {
			args = append(args, strings.ReplaceAll(a, "20261206T100000Z", newest))
		}
		// The flags the test adds: its configuration and filesystem
		// (after a subcommand such as list).
		flags := []string{"--config", r.config, "--mount", c.Mount}
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			args = append(append([]string{args[0]}, flags...), args[1:]...)
		} else {
			args = append(flags, args...)
		}
		out, errb := env.Stdout.(*jobtest.SyncBuffer), env.Stderr.(*jobtest.SyncBuffer)
		out.Reset()
		errb.Reset()
		if code := run(context.Background(), args, env); code != 0 {
			t.Fatalf("%s %v: exit %d\n%s%s", step[0], args, code, out, errb)
		}
		if step[0] == "impermanence-restore" && !strings.Contains(strings.Join(step, " "), "--dry-run") && len(step) > 2 {
			restored[step[len(step)-1]] = true
			if !strings.Contains(out.String(), "(full: the server holds no snapshot of this subvolume the target holds)") {
				t.Errorf("%v: want a full fetch on the new server:\n%s", step, out)
			}
		}
	}
	for _, sv := range subvolumes {
		if !restored[sv] {
			t.Errorf("the documented procedure restores no %s", sv)
			continue
		}
		if got := tree(t, filepath.Join(c.Mount, sv)); !mapsEqual(got, want[sv]) {
			t.Errorf("%s on the new server differs from the source snapshot %s: %d files, want %d", sv, newest, len(got), len(want[sv]))
		}
	}

	// The new server goes on replicating to the same target, incrementally
	// from the fetched snapshots: btrfs send gives a received snapshot's
	// received UUID as its identity, so the target's copies match them.
	os.WriteFile(filepath.Join(c.Mount, "@persist", "data", "after"), random(64<<10, 999), 0o640)
	out, errb := env.Stdout.(*jobtest.SyncBuffer), env.Stderr.(*jobtest.SyncBuffer)
	out.Reset()
	errb.Reset()
	flags := []string{"--config", r.config, "--mount", c.Mount}
	if code := snapshot.Run(context.Background(), append(flags, "@persist"), env); code != 0 {
		t.Fatalf("snapshot on the new server: exit %d\n%s%s", code, out, errb)
	}
	out.Reset()
	errb.Reset()
	if code := Run(context.Background(), flags, env); code != 0 {
		t.Fatalf("send from the new server: exit %d\n%s%s", code, out, errb)
	}
	if s := out.String() + errb.String(); strings.Contains(s, "full:") || strings.Contains(s, "another subvolume of that name") {
		t.Errorf("the new server's first send is not an incremental from the fetched snapshots:\n%s", s)
	}
	if !strings.Contains(out.String(), "@persist/") {
		t.Errorf("the new server's first send sent nothing of @persist:\n%s%s", out, errb)
	}
}
