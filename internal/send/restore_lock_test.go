package send

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/restore"
)

// impermanence-restore --from-target holds the target's lock, the one a
// send holds, while it reads from the target: a restore finds a send in
// progress and fails at once with --lock-timeout 0 naming the target and
// the holder, or waits for it; a send finds a restore (another process,
// stopped mid-fetch) reading and fails naming it, and the restore then
// completes.
func TestRestoreFromTargetLock(t *testing.T) {
	if os.Getenv("RESTORE_TEST_CHILD") != "" {
		t.Skip("child")
	}
	r := newStreamRig(t, "{ keep_min = 100 }", "")
	snap := r.snapshot(t, map[string][]byte{"big": random(64<<20, 21), "etc/conf": []byte("v1")})
	r.send(t, 0)
	snapDir := filepath.Join(r.src.FS.Mount, "@snapshots/@persist")
	r.deleteSnapshots(t, snap)
	lockDir := r.src.Env.LockDir()
	args := func(extra ...string) []string {
		return append([]string{"--config", r.config, "--mount", r.src.FS.Mount, "--from-target", "vault", "--from", snap}, append(extra, "--next-boot", "@persist")...)
	}
	cancel := func() {
		r.src.Reset()
		if code := restore.Run(context.Background(), []string{"--config", r.config, "--mount", r.src.FS.Mount, "--cancel", "@persist"}, r.src.Env); code != 0 {
			t.Fatalf("cancel: exit %d\n%s", code, r.src.Err)
		}
		r.deleteSnapshots(t, snap)
	}

	// A send holds the lock (taken here as a send takes it).
	held, err := lock.Acquire(context.Background(), lockDir, lock.Target("vault"), "send", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.src.Reset()
	code := restore.Run(context.Background(), args("--lock-timeout", "0"), r.src.Env)
	want := fmt.Sprintf("--from-target vault: lock %s after 0s: lock is held by another job (held by pid=%d job=send since=",
		lock.Path(lockDir, lock.Target("vault")), os.Getpid())
	if code != 1 || !strings.Contains(r.src.Err.String(), want) {
		t.Errorf("restore while a send holds the target: exit %d, want 1 saying %q\n%s", code, want, r.src.Err)
	}
	if got := dirNames(t, snapDir); len(got) != 0 {
		t.Errorf("a restore that did not get the lock fetched %v", got)
	}
	// It waits for the send, up to --lock-timeout.
	go func() { time.Sleep(300 * time.Millisecond); held.Release() }()
	r.src.Reset()
	if code := restore.Run(context.Background(), args("--lock-timeout", "1m"), r.src.Env); code != 0 ||
		!strings.Contains(r.src.Err.String(), "waiting for the filesystem lock") || !strings.Contains(r.src.Err.String(), "target=vault") {
		t.Fatalf("restore waiting for the send: exit %d\n%s%s", code, r.src.Out, r.src.Err)
	}
	cancel()

	// A restore in another process holds it mid-fetch (stopped there).
	child, _ := json.Marshal(args())
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreChild$")
	cmd.Env = append(os.Environ(), "RESTORE_TEST_CHILD="+string(child), "RESTORE_TEST_ROOT="+r.src.Env.Root)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Registered after the filesystems', so it runs before their cleanup:
	// the child is gone (waited for) before they are unmounted.
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGCONT)
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	holder := fmt.Sprintf("pid=%d job=restore", cmd.Process.Pid)
	lockFile := lock.Path(lockDir, lock.Target("vault"))
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(lockFile); strings.Contains(string(b), holder) {
			cmd.Process.Signal(syscall.SIGSTOP)
			break
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("the restore never took the target's lock:\n%s", out.String())
		}
	}
	r.src.Reset()
	code = Run(context.Background(), r.args("--lock-timeout", "0"), r.src.Env)
	sendOut := r.src.Out.String() + r.src.Err.String()
	cmd.Process.Signal(syscall.SIGCONT)
	if err := cmd.Wait(); err != nil {
		// It finished its fetch before it was stopped: the lock file
		// still named it, the send then got the lock.
		t.Fatalf("the restore: %v\n%s", err, out.String())
	}
	if code != 1 || !strings.Contains(sendOut, "held by "+holder) {
		t.Errorf("send while a restore reads the target: exit %d, want 1 naming %q\n%s", code, holder, sendOut)
	}
	if got := dirNames(t, snapDir); len(got) != 1 || got[0] != snap {
		t.Errorf("after the restore the snapshots are %v, want %s", got, snap)
	}
}
