package snapshot_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/jobtest"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/syscount"
)

const fsyncChildEnv = "SNAPSHOT_FSYNC_CHILD"

// fsyncChild is what the parent passes to the child run.
type fsyncChild struct {
	Args []string
	Root string
}

// TestFsyncChild runs one snapshot job in a process of its own, for
// TestSnapshotRunFsyncs to trace.
func TestFsyncChild(t *testing.T) {
	var c fsyncChild
	if err := json.Unmarshal([]byte(os.Getenv(fsyncChildEnv)), &c); err != nil {
		t.Skip("child process only")
	}
	code := snapshot.Run(context.Background(), c.Args, job.Env{Stdout: os.Stdout, Stderr: os.Stderr,
		Root: c.Root, Journal: func() bool { return false }})
	os.Exit(code)
}

// A snapshot run costs two fsyncs whatever the number of subvolumes: the
// audit log once for all its events, then the state record's file (before
// its rename). It used to be one per event plus two.
func TestSnapshotRunFsyncs(t *testing.T) {
	l := jobtest.New(t)
	cfg := func(dropIn string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "config.toml"), config.DefaultTOML(), 0o644)
		if dropIn != "" {
			os.Mkdir(filepath.Join(dir, "config.d"), 0o755)
			os.WriteFile(filepath.Join(dir, "config.d/10-more.toml"), []byte(dropIn), 0o644)
		}
		return filepath.Join(dir, "config.toml")
	}
	four := cfg("")
	seven := cfg("[[subvolume]]\nname = \"@nix\"\nsnapshot = true\n[[subvolume]]\nname = \"@var-backup\"\nsnapshot = true\n" +
		"[[subvolume]]\nname = \"@var-lib-containers\"\nsnapshot = true\n")
	tmp := regexp.MustCompile(`\.tmp-[0-9]+$`)
	for _, tc := range []struct {
		name   string
		args   []string
		events int
	}{
		{"one subvolume", []string{"--config", four, "@persist"}, 1},
		{"four", []string{"--config", four}, 4},
		{"seven", []string{"--config", seven}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fsyncChild{Args: append([]string{"--mount", l.FS.Mount}, tc.args...), Root: t.TempDir()}
			env := job.Env{Root: c.Root}
			arg, _ := json.Marshal(c)
			calls := syscount.Run(t, syscount.Self("TestFsyncChild", fsyncChildEnv+"="+string(arg)),
				"fsync", "fdatasync", "sync_file_range", "syncfs", "sync", "msync")
			for i := range calls {
				calls[i].File = tmp.ReplaceAllString(calls[i].File, ".tmp-N")
			}
			want := []syscount.Call{{Name: "fsync", File: env.AuditPath()}, {Name: "fsync", File: filepath.Join(env.StateDir(), ".snapshot.json.tmp-N")}}
			if diff := cmp.Diff(want, calls); diff != "" {
				t.Errorf("sync calls of a snapshot run (-want +got):\n%s", diff)
			}
			evs, err := audit.Read(env.AuditPath())
			if err != nil || len(evs) != tc.events {
				t.Errorf("audit log: %d events, %v; want %d", len(evs), err, tc.events)
			}
			for _, e := range evs {
				if e.Result != audit.ResultSuccess {
					t.Errorf("event %+v, want success", e)
				}
			}
		})
	}
}
