package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Session is one run of a helper on one filesystem. Begin starts it; Reach,
// Lock and OpenAudit open what the run needs (Open does all three); Close
// releases everything in reverse order.
type Session struct {
	Env     Env
	Program string // the binary: SYSLOG_IDENTIFIER, the prefix of messages
	Job     string // the job: state record, audit events, lock owner
	Config  *config.Config
	// Device is the btrfs device (--device, else the configured one).
	Device string
	FS     *btrfs.FS
	Log    *slog.Logger
	Audit  *audit.Log // nil when the audit log cannot be opened (logged)
	// Start is when the run began (the record's last run, its duration).
	Start time.Time
	// Now is the job's time, read once when its work can begin: after the
	// lock is held (a job that waited sees what its predecessor did as
	// past), or once the filesystem is reached by a run that takes no lock.
	Now time.Time
	// StateDir is where Record writes: Env.StateDir(), or the run
	// directory for the initrd rollback.
	StateDir string
	// Records says the run writes a job record (OpenRun sets it unless
	// this is a dry run): a stop that Main forces records the failure too.
	Records bool
	// logHasJob says Log carries job=<Job> already (LogWithJob), so the
	// shell's own entries do not add it again.
	logHasJob bool
	ctx       context.Context
	// where names the top level in messages: the --mount directory, or
	// "the top level of <device>" for a private mount.
	where   string
	closers []func() error
}

// Logger returns the journal logger of program (stderr text without a
// journal).
func Logger(env Env, program string) *slog.Logger {
	l := journal.New(journal.Options{Identifier: program, Stderr: env.Stderr, Enabled: env.Journal})
	return slog.New(showHandler{l.Handler()})
}

// Begin starts a run of program's job under ctx (see Stopped): the logger
// and the start time. Nothing is opened yet.
func Begin(ctx context.Context, env Env, program, jobName string) *Session {
	env = env.WithDefaults().ShowPaths()
	s := &Session{Env: env, Program: program, Job: jobName, Start: env.Now(),
		StateDir: env.StateDir(), Log: Logger(env, program), ctx: ctx}
	active.Store(s)
	return s
}

// Open loads the configuration, reaches and opens the top level and takes
// the lock and opens the audit log (unless noLock, for read-only commands
// and dry runs: those mount read-only). Close releases all.
func Open(ctx context.Context, env Env, f Flags, program, jobName string, noLock bool) (*Session, error) {
	s := Begin(ctx, env, program, jobName)
	if err := s.open(ctx, f, noLock); err != nil {
		return nil, err
	}
	return s, nil
}

// open is Open on a begun session; on an error it has closed s.
func (s *Session) open(ctx context.Context, f Flags, noLock bool) error {
	cfg, err := LoadConfig(f.Config, f.Default)
	if err != nil {
		s.Close()
		return err
	}
	s.Config = cfg
	if err := s.Reach(f, noLock); err != nil {
		s.Close()
		return err
	}
	if !noLock {
		if err := s.Writable(); err != nil {
			s.Close()
			return err
		}
		if err := s.Lock(ctx, f.LockTimeout); err != nil {
			s.Close()
			return err
		}
		s.OpenAudit(s.Env.AuditPath())
	}
	s.Now = s.Env.Now()
	return nil
}

// Reach reaches the top level (subvolid=5) of the session's filesystem and
// opens it: the directory --mount names, else a private mount of --device
// (or the configured device), read-only when readOnly: a detached mount
// (btrfs.MountTopLevel) that no other process sees and that goes with this
// process however it ends. Config must be set.
func (s *Session) Reach(f Flags, readOnly bool) error {
	s.Device = s.Config.Device
	if f.Device != "" {
		s.Device = f.Device
	}
	top := f.Mount
	s.where = top
	if top == "" {
		s.where = "the top level of " + s.Device
		dir, unmount, err := btrfs.MountTopLevel(s.Device, readOnly)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, unmount)
		top = dir
	}
	var opts []btrfs.Option
	if s.Env.Mountinfo != "" {
		opts = append(opts, btrfs.WithMountinfo(s.Env.Mountinfo))
	}
	if s.Env.Sysfs != "" {
		opts = append(opts, btrfs.WithSysfs(s.Env.Sysfs))
	}
	fsys, err := btrfs.Open(top, opts...)
	if err != nil {
		return err
	}
	s.FS = fsys
	s.closers = append(s.closers, fsys.Close)
	return nil
}

// Writable refuses a top level through which nothing can be written, so a
// job that would change the filesystem fails with that reason instead of
// finding nothing it could do. FS must be open.
func (s *Session) Writable() error {
	ro, err := s.FS.MountReadOnly()
	if err != nil {
		return err
	}
	if ro {
		return fmt.Errorf("%s is read-only (the mount or the filesystem: btrfs turns a filesystem read-only after an error, see the kernel log): %s changes nothing there; remount it read-write", s.where, s.Program)
	}
	return nil
}

// Lock takes the filesystem's job lock, waiting up to timeout for the job
// that holds it, then removes the stale mounts of the filesystem older
// versions left in the run directory. FS must be open.
func (s *Session) Lock(ctx context.Context, timeout time.Duration) error {
	l, err := lock.Acquire(ctx, s.Env.LockDir(), s.FS.FSID().String(), s.Job, timeout, s.Log)
	if err != nil {
		return err
	}
	s.closers = append(s.closers, l.Release)
	// With the lock held no job of this filesystem is using a mount: the
	// ones older versions attached in the run directory and left when they
	// were killed go now.
	removed, err := btrfs.RemoveStaleMounts(s.Env.MountinfoPath(), s.Env.RunDir(), s.FS.FSID())
	for _, m := range removed {
		s.Log.Warn("removed a top-level mount an older version left behind", "mount", m)
	}
	if err != nil {
		s.Log.Warn("stale mounts not removed", "error", err)
	}
	return nil
}

// OpenAudit opens the audit log at path, unless one is open; a failure is
// logged and the run goes on without it.
func (s *Session) OpenAudit(path string) {
	if s.Audit != nil {
		return
	}
	a, err := audit.Open(path)
	if err != nil {
		s.Log.Warn("audit log unavailable", "error", err)
		return
	}
	s.Audit = a
	s.closers = append(s.closers, a.Close)
}

// OpenRun is Open for a job's run: when opening fails it prints the error,
// calls onFail (may be nil; a job logs its own journal message there) and,
// unless this is a dry run, records the failure in the job's state file, so
// that the exporter sees a run that could not even start.
func OpenRun(ctx context.Context, env Env, f Flags, program, jobName string, onFail func(log *slog.Logger, err error)) (*Session, error) {
	s := Begin(ctx, env, program, jobName)
	s.Records = !f.DryRun
	err := s.open(ctx, f, f.DryRun)
	if err == nil {
		return s, nil
	}
	env = s.Env
	fmt.Fprintf(env.Stderr, "%s: %v\n", program, btrfs.ShowErr(err))
	if errors.Is(err, ErrStopped) {
		s.LogStopped(err)
	}
	if onFail != nil {
		onFail(Logger(env, program), err)
	}
	if !f.DryRun {
		RecordFailure(env, jobName, s.Start, err)
	}
	return nil, err
}

// Close releases the audit log and the lock, closes the filesystem and
// unmounts a private mount, in reverse order of opening.
func (s *Session) Close() error {
	active.CompareAndSwap(s, nil)
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// LogWithJob narrows Log with the job's name, job=<Job> on every entry of
// the run (the rollback's, whose lines the initrd's journal mixes with
// others); the shell's own entries then carry it once, not again.
func (s *Session) LogWithJob() {
	if !s.logHasJob {
		s.Log, s.logHasJob = s.Log.With("job", s.Job), true
	}
}

// jobAttr is the job attribute of the shell's own entries about job: none
// when Log carries it already.
func (s *Session) jobAttr(job string) []any {
	if s.logHasJob && job == s.Job {
		return nil
	}
	return []any{"job", job}
}

// LogStopped says in the journal that a signal stopped the run before it
// finished, with err (which says where); the job records the failure.
func (s *Session) LogStopped(err error) {
	s.Log.Warn(fmt.Sprintf("%s %v; what it finished is complete, the next run does the rest", s.Job, err),
		append([]any{journal.MessageID(msgid.JobStopped)}, s.jobAttr(s.Job)...)...)
}

// AuditEvent appends an event (the session's job and clock fill Job and
// Time when unset) with one write and no fsync: Record and Close make the
// run's events durable with one fsync. A failure is logged, not fatal.
func (s *Session) AuditEvent(e audit.Event) {
	if s.Audit == nil {
		return
	}
	if e.Job == "" {
		e.Job = s.Job
	}
	if e.Time.IsZero() {
		e.Time = s.Env.Now()
	}
	e.Path, e.Error = btrfs.ShowText(e.Path), btrfs.ShowText(e.Error)
	if err := s.Audit.Write(e); err != nil {
		s.Log.Warn("audit log write failed", "error", err)
	}
}

// Record makes the run's audit events durable (one fsync), then writes the
// job's state record to StateDir: a record that reports the run never
// precedes its events on disk. A failure is logged.
func (s *Session) Record(r state.Record) {
	if s.Audit != nil {
		if err := s.Audit.Sync(); err != nil {
			s.Log.Warn("audit log write failed", "error", err)
		}
	}
	if r.Job == "" {
		r.Job = s.Job
	}
	if r.Duration == 0 {
		r.Duration = s.Env.Now().Sub(s.Start).Seconds()
	}
	r.Error = btrfs.ShowText(r.Error)
	if len(r.Details) > 0 { // JSON: a device path needs no escaping
		r.Details = []byte(btrfs.ShowText(string(r.Details)))
	}
	if r.Result != state.ResultSuccess && s.ctx != nil && Stopped(s.ctx) != nil {
		s.LogStopped(errors.New(r.Error))
	}
	if err := state.Finish(s.StateDir, r, s.Start); err != nil {
		s.Log.Warn("state record write failed", append(s.jobAttr(r.Job), "error", err)...)
	}
}

// RecordFailure writes a failed-job record for a run that could not start
// (no Session): invalid config, no filesystem, lock timeout.
func RecordFailure(env Env, jobName string, start time.Time, err error) {
	env = env.WithDefaults()
	r := state.Record{Job: jobName, Result: state.ResultFailure, Error: btrfs.ShowErr(err).Error(),
		Duration: env.Now().Sub(start).Seconds()}
	if werr := state.Finish(env.StateDir(), r, start); werr != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", jobName, werr)
	}
}
