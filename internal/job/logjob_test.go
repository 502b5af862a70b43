package job

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/state"
)

// TestStopPathLogsJobOnce: on the stop path (a run stopped by SIGTERM whose
// record cannot be written) every entry of the shell names the job once,
// whether or not the job narrowed its logger with it (LogWithJob, as the
// rollback does).
func TestStopPathLogsJobOnce(t *testing.T) {
	for _, narrowed := range []bool{false, true} {
		var log strings.Builder
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(stopCause{syscall.SIGTERM})
		// A state directory that is a file: the record cannot be written.
		stateDir := filepath.Join(t.TempDir(), "state")
		if err := os.WriteFile(stateDir, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		env := Env{Root: t.TempDir(), Journal: func() bool { return false }, Now: func() time.Time { return time.Unix(1e9, 0) }}
		s := Begin(ctx, env, "impermanence-rollback", "rollback")
		s.Log = slog.New(slog.NewTextHandler(&log, nil))
		s.StateDir = stateDir
		if narrowed {
			s.LogWithJob()
			s.LogWithJob() // twice is once
			s.Log.Info("a line of the job's own")
		}
		s.Record(state.Record{Result: state.ResultFailure, Error: Stopped(ctx).Error() + " between two steps"})
		s.Close()
		lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
		want := 2 // the stop and the failed record write
		if narrowed {
			want++
		}
		if len(lines) != want {
			t.Fatalf("narrowed %t: %d log lines, want %d:\n%s", narrowed, len(lines), want, log.String())
		}
		for _, l := range lines {
			if n := strings.Count(l, " job="); n != 1 || !strings.Contains(l, " job=rollback") {
				t.Errorf("narrowed %t: %d job attributes, want job=rollback once: %s", narrowed, n, l)
			}
		}
		if !strings.Contains(lines[len(lines)-2], "stopped by SIGTERM") || !strings.Contains(lines[len(lines)-1], "state record write failed") {
			t.Errorf("narrowed %t: want the stop, then the failed record write:\n%s", narrowed, log.String())
		}
	}
}
