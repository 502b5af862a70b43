package send

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/syscount"
)

const commitChildEnv = "SEND_COMMIT_CHILD"

// TestCommitChild is the traced process of TestLocalTargetCommitsOnce.
func TestCommitChild(t *testing.T) {
	var c struct {
		Args []string
		Root string
	}
	if err := json.Unmarshal([]byte(os.Getenv(commitChildEnv)), &c); err != nil {
		t.Skip("child process only")
	}
	os.Exit(Run(context.Background(), c.Args, job.Env{Root: c.Root, Journal: func() bool { return false }}))
}

// A run to a local target commits the target filesystem once, after its
// last receive and deletion and before the state record, whatever the
// number of snapshots it sends (one transaction commit per snapshot was
// the largest cost of a small incremental). Zero sends still commit once
// (the run's deletions, a repair).
func TestLocalTargetCommitsOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		snaps int
	}{{"none to send", 0}, {"one", 1}, {"four, one full and three incrementals", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "{ keep_min = 100 }")
			r.snapshot(t, map[string][]byte{"base": random(1<<16, 1)})
			r.send(t, 0)
			var names []string
			for i := range tc.snaps {
				names = append(names, r.snapshot(t, map[string][]byte{"f": random(1<<16, uint64(10+i))}))
			}
			env, _ := json.Marshal(struct {
				Args []string
				Root string
			}{r.args(), r.src.Env.Root})
			calls := syscount.Run(t, syscount.Self("TestCommitChild", commitChildEnv+"="+string(env)), "ioctl")
			syncs := 0
			for _, c := range calls {
				if c.Request == "BTRFS_IOC_SYNC" && c.File == r.root {
					syncs++
				}
			}
			if syncs != 1 {
				t.Errorf("BTRFS_IOC_SYNC on the target directory %s: %d, want 1 per run", r.root, syncs)
			}
			if got := r.targetNames(t, "@persist"); len(got) != tc.snaps+1 {
				t.Errorf("target holds %v, want %d snapshots (%v sent)", got, tc.snaps+1, names)
			}
		})
	}
}
