// Package lock is the per-filesystem job lock: an exclusive flock(2) on
// <dir>/<filesystem UUID>.lock, so rollback, snapshot, prune, maintain and
// restore never work on one filesystem at the same time, whichever mount
// they reach it through. Waiting is explicit: Acquire logs when the lock is
// busy and who holds it, and gives up with ErrTimeout after the timeout.
package lock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/safefile"
)

// ErrTimeout is returned when the lock stayed busy for the whole timeout.
var ErrTimeout = errors.New("lock is held by another job")

// poll is how often a busy lock is tried again.
const poll = 50 * time.Millisecond

// Lock is a held lock; Release frees it. The kernel frees it too when the
// process dies, so a crashed job never leaves a stale lock.
type Lock struct {
	f    *os.File
	Path string
}

// Target is the name (in place of a filesystem UUID) of the lock of the
// replication target called name: impermanence-send holds it while it
// writes to the target (its retention included), impermanence-restore
// --from-target while it reads from it.
func Target(name string) string { return "send-" + name }

// Path returns the lock file of the filesystem with UUID fsid in dir.
func Path(dir, fsid string) string { return filepath.Join(dir, fsid+".lock") }

// Acquire takes the lock of filesystem fsid for job, waiting up to timeout
// (0: do not wait). While it waits it logs once who holds the lock, and when
// it gets it after waiting, how long that took.
func Acquire(ctx context.Context, dir, fsid, job string, timeout time.Duration, log *slog.Logger) (*Lock, error) {
	if fsid == "" || strings.ContainsAny(fsid, "/\x00") {
		return nil, fmt.Errorf("lock filesystem %q: invalid UUID", fsid)
	}
	path := Path(dir, fsid)
	f, err := safefile.OpenFile(path, os.O_RDWR|os.O_CREATE, safefile.Perm{File: 0o600, Dir: 0o700})
	if err != nil {
		return nil, fmt.Errorf("lock filesystem %s: %w", fsid, err)
	}
	start := time.Now()
	deadline := start.Add(timeout)
	waited := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			waited = true
			log.Warn("waiting for the filesystem lock", "lock", path, "holder", holder(path), "timeout", timeout.String())
		}
		if !time.Now().Before(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s after %s: %w (%s)", path, timeout, ErrTimeout, holder(path))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, context.Cause(ctx))
		case <-time.After(min(poll, time.Until(deadline))):
		}
	}
	if waited {
		log.Info("filesystem lock acquired", "lock", path, "waited", time.Since(start).String())
	}
	// Say who holds it, for the next job that has to wait.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid=%d job=%s since=%s\n", os.Getpid(), job, time.Now().UTC().Format(time.RFC3339))
	}
	return &Lock{f: f, Path: path}, nil
}

// holder describes the current holder from the lock file's content.
func holder(path string) string {
	b, err := safefile.ReadFile(path, 4096)
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return "unknown holder"
	}
	return "held by " + strings.TrimSpace(string(b))
}

// Release frees the lock. The file stays, so that waiters keep locking the
// same inode.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
