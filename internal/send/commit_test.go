package send

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/syscount"
)

const commitChildEnv = "SEND_COMMIT_CHILD"

// TestCommitChild is the traced process of TestLocalTargetCommits.
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

// The commits of a run to a local target: one per snapshot it receives
// (the received data written to disk before the move into place, see
// TestPlacedSnapshotSurvivesPowerCut), and one after its last receive and
// deletion and before the state record, whatever the number of snapshots.
// Zero sends still commit once (the run's deletions, a repair).
func TestLocalTargetCommits(t *testing.T) {
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
			root, flushes := 0, 0
			for _, c := range calls {
				switch {
				case c.Request != "BTRFS_IOC_SYNC":
				case c.File == r.root:
					root++
				case strings.HasPrefix(c.File, filepath.Join(r.root, ".incoming")+"/"):
					flushes++
				default:
					t.Errorf("BTRFS_IOC_SYNC on %s: neither the target directory %s nor a transfer in it", c.File, r.root)
				}
			}
			if root != 1 {
				t.Errorf("BTRFS_IOC_SYNC on the target directory %s: %d, want 1 per run", r.root, root)
			}
			if flushes != tc.snaps {
				t.Errorf("BTRFS_IOC_SYNC of a received snapshot before its move: %d, want one per snapshot (%d)", flushes, tc.snaps)
			}
			if got := r.targetNames(t, "@persist"); len(got) != tc.snaps+1 {
				t.Errorf("target holds %v, want %d snapshots (%v sent)", got, tc.snaps+1, names)
			}
		})
	}
}
