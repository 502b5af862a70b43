package job

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// ErrStopped marks a run that a signal (SIGTERM from systemctl stop or a
// unit timeout, SIGINT) stopped before it finished.
var ErrStopped = errors.New("stopped")

// stopCause is the cause Main cancels a run's context with.
type stopCause struct{ sig os.Signal }

func (c stopCause) Error() string {
	if s, ok := c.sig.(syscall.Signal); ok {
		return "stopped by " + unix.SignalName(s)
	}
	return "stopped by " + c.sig.String()
}

func (c stopCause) Is(target error) bool { return target == ErrStopped }

// Stopped returns nil while ctx runs and, once it is done, why: an error
// wrapping ErrStopped ("stopped by SIGTERM"). A job asks it at each safe
// point (between two snapshots, deletions, steps) and ends there.
func Stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	c := context.Cause(ctx)
	if errors.Is(c, ErrStopped) {
		return c
	}
	return fmt.Errorf("%w: %w", ErrStopped, c)
}

// stopGrace is how long Main lets a signalled run reach a safe point before
// it ends the process itself (a run blocked where it cannot notice: opening
// a FIFO, a kernel call that does not return).
var stopGrace = 3 * time.Second

// active is the session of the running job, for a stop Main forces.
var active atomic.Pointer[Session]

// forcedStop says in the journal that the run is ended without finishing
// and, for a job that keeps a record, records the failure. Both are
// bounded: whatever held the run up must not hold up its end.
func forcedStop(cause error, grace time.Duration) {
	s := active.Load()
	if s == nil {
		fmt.Fprintf(os.Stderr, "%s: %v and still busy %s later: ended without finishing\n", filepath.Base(os.Args[0]), cause, grace)
		return
	}
	msg := fmt.Sprintf("%s %v and still busy %s later: ended without finishing (what it finished is complete; the next run does the rest)", s.Job, cause, grace)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fmt.Fprintf(s.Env.Stderr, "%s: %s\n", s.Program, msg)
		s.Log.Error(msg, append([]any{journal.MessageID(msgid.JobStopped)}, s.jobAttr(s.Job)...)...)
		if s.Records {
			r := state.Record{Job: s.Job, Result: state.ResultFailure, Error: msg, Duration: s.Env.Now().Sub(s.Start).Seconds()}
			if err := state.Finish(s.StateDir, r, s.Start); err != nil {
				s.Log.Warn("state record write failed", append(s.jobAttr(s.Job), "error", err)...)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}
