package maintain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/human"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/lock"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/scrubpass"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// scrubJob is the scrub's state record and, with --scrub-only, the job.
const scrubJob = "scrub"

// DefaultScrubBudget is --scrub-budget's default.
const DefaultScrubBudget = 4 * time.Hour

// Why a scrub stopped before the end of a device.
const (
	StoppedBudget = "budget" // the time budget was spent
	StoppedSignal = "signal" // SIGTERM or SIGINT (systemctl stop, the unit's timeout)
)

// Margin is how long before its unit's start timeout a scrub stops: a
// twentieth of the timeout, between 10 s and 5 min, and at most half of it.
// Cancelling, writing the records and exiting take seconds.
func Margin(timeout time.Duration) time.Duration {
	return min(max(timeout/20, 10*time.Second), 5*time.Minute, timeout/2)
}

// Budget is the scrub budget a run uses: budget, shortened to end Margin
// before timeout, the TimeoutStartSec= of the unit that runs it (finite
// false: none). A budget never outlasts its unit, whatever a drop-in sets.
func Budget(budget, timeout time.Duration, finite bool) time.Duration {
	if !finite {
		return budget
	}
	return min(budget, timeout-Margin(timeout))
}

// DeviceScrub is the scrub of one device in this run.
type DeviceScrub struct {
	DevID uint64 `json:"devid"`
	Start uint64 `json:"start"` // where this run started
	Done  bool   `json:"done"`  // reached the end of the device in this pass
	// Skipped: done earlier in this pass, not scrubbed by this run.
	Skipped  bool                `json:"skipped,omitempty"`
	Progress btrfs.ScrubProgress `json:"progress"` // this run
	// Pass sums the progress of every run of this pass.
	Pass  btrfs.ScrubProgress `json:"pass"`
	Error string              `json:"error,omitempty"`
}

// Scrub is the scrub part of a run.
type Scrub struct {
	Devices []DeviceScrub `json:"devices"`
	// Done: the pass is complete (every device reached its end).
	Done    bool `json:"done"`
	Resumed bool `json:"resumed"`
	// Stopped says why the run ended before the pass did (StoppedBudget,
	// StoppedSignal); empty when it did not.
	Stopped string `json:"stopped,omitempty"`
	// StopCause says what stopped it ("stopped by SIGTERM").
	StopCause string `json:"stop_cause,omitempty"`
	// Budget is the time budget the run had, in seconds.
	Budget  float64 `json:"budget"`
	Seconds float64 `json:"seconds"`
	// Skipped says why the run did not scrub (another scrub runs).
	Skipped string `json:"skipped,omitempty"`
	// PassStarted, PassProgress and LastPassCompleted describe the pass
	// (internal/scrubpass) after the run.
	PassStarted       time.Time `json:"pass_started,omitzero"`
	PassProgress      float64   `json:"pass_progress"`
	LastPassCompleted time.Time `json:"last_pass_completed,omitzero"`
}

// scrubLockName is the lock of the filesystem's scrub, beside the job lock:
// a scrub takes hours and holds no job lock (snapshots and cleanups go on
// meanwhile); this one keeps two scrubs, which would share one pass file,
// apart.
func scrubLockName(fsid string) string { return fsid + ".scrub" }

// scrub scrubs every device of the current pass in parallel from where the
// last run stopped, cancelling when the budget is spent or ctx is done, and
// records the run ("scrub") and the pass (scrubpass).
func scrub(ctx context.Context, s *job.Session, o Options, budget time.Duration) (Scrub, error) {
	sc := Scrub{Budget: budget.Seconds()}
	t0 := s.Env.Now()
	devs, err := s.FS.DeviceStats()
	if err != nil {
		return sc, err
	}
	if !o.DryRun {
		l, err := lock.Acquire(ctx, s.Env.LockDir(), scrubLockName(s.FS.FSID().String()), s.Job, 0, s.Log)
		if errors.Is(err, lock.ErrTimeout) {
			sc.Skipped = "another scrub of this filesystem is running"
			s.Log.Warn("scrub skipped: "+sc.Skipped, journal.MessageID(msgid.ScrubResult))
			s.Record(state.Record{Job: scrubJob, Result: state.ResultSkipped, Error: sc.Skipped})
			return sc, nil
		}
		if err != nil {
			return sc, err
		}
		defer l.Release()
	}
	pass, err := readPass(s.StateDir)
	if err != nil {
		s.Log.Warn("scrub pass unreadable; starting a new pass", "error", err)
	}
	ids := make([]uint64, len(devs))
	for i, d := range devs {
		ids[i] = d.DevID
	}
	pass = scrubpass.Next(pass, ids, t0)
	for _, d := range pass.Devices {
		ds := DeviceScrub{DevID: d.DevID, Start: d.Resume, Done: d.Done, Skipped: d.Done, Pass: d.Scrubbed}
		sc.Resumed = sc.Resumed || d.Resume > 0 || d.Done
		sc.Devices = append(sc.Devices, ds)
	}
	if o.DryRun {
		return sc, nil
	}
	var (
		stopMu   sync.Mutex
		stopped  string
		canceled sync.Once
	)
	cancel := func(why string) {
		stopMu.Lock()
		if stopped == "" {
			stopped = why
		}
		stopMu.Unlock()
		canceled.Do(func() { s.FS.ScrubCancel() })
	}
	timer := time.AfterFunc(budget, func() { cancel(StoppedBudget) })
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cancel(StoppedSignal)
		case <-stop:
		}
	}()
	var wg sync.WaitGroup
	for i := range sc.Devices {
		if sc.Devices[i].Skipped {
			continue
		}
		wg.Add(1)
		go func(d *DeviceScrub) {
			defer wg.Done()
			p, err := s.FS.Scrub(d.DevID, d.Start, o.ReadOnlyScrub)
			d.Progress = p
			d.Pass = add(d.Pass, p)
			d.Pass.LastPhysical = p.LastPhysical
			switch {
			case err == nil:
				d.Done = true
			case errors.Is(err, syscall.ECANCELED):
				// Budget spent or signalled: resume from LastPhysical.
			default:
				d.Error = err.Error()
			}
		}(&sc.Devices[i])
	}
	wg.Wait()
	timer.Stop()
	close(stop)
	// Wait for a cancel in flight: BTRFS_IOC_SCRUB_CANCEL returns only after
	// the kernel has cleared its cancel request, and a scrub started before
	// that (the next run) would be cancelled at once. Do returns when the
	// first call's function has.
	canceled.Do(func() {})
	end := s.Env.Now()
	sc.Seconds = end.Sub(t0).Seconds()

	var errs []error
	var total btrfs.ScrubProgress
	pass.Runs++
	for i, d := range sc.Devices {
		pd := &pass.Devices[i]
		total = add(total, d.Pass)
		pd.Scrubbed, pd.Done = d.Pass, d.Done
		if !d.Skipped && d.Progress.LastPhysical > pd.Resume {
			pd.Resume = d.Progress.LastPhysical
		}
		if ext, err := s.FS.DevExtents(d.DevID); err == nil {
			pd.Measure(ext)
		} else {
			s.Log.Warn("cannot measure the scrub progress", "error", err.Error())
		}
		if d.Error != "" {
			errs = append(errs, fmt.Errorf("scrub device %d: %s", d.DevID, d.Error))
		}
	}
	sc.Done = pass.Done()
	if sc.Done {
		pass.LastCompleted = end.UTC()
	} else {
		stopMu.Lock()
		sc.Stopped = stopped
		stopMu.Unlock()
		if sc.Stopped == StoppedSignal {
			sc.StopCause = "stopped by a signal"
			if err := job.Stopped(ctx); err != nil {
				sc.StopCause = err.Error()
			}
		}
	}
	if bad := total.Errors() - min(total.Errors(), total.CorrectedErrors); bad > 0 {
		errs = append(errs, fmt.Errorf("scrub found %d errors it could not correct (csum %d, read %d, verify %d, uncorrectable %d): restore the damaged files from a backup",
			bad, total.CsumErrors, total.ReadErrors, total.VerifyErrors, total.UncorrectableErrors))
	}
	if err := scrubpass.Write(s.StateDir, pass); err != nil {
		errs = append(errs, err)
	}
	sc.PassStarted, sc.PassProgress, sc.LastPassCompleted = pass.Started, pass.Progress(), pass.LastCompleted
	err = errors.Join(errs...)

	how := "finished the pass"
	switch sc.Stopped {
	case StoppedBudget:
		how = fmt.Sprintf("stopped at its time budget (%s) at %.0f%% of the pass; the next run resumes", budget, 100*sc.PassProgress)
	case StoppedSignal:
		how = fmt.Sprintf("%s at %.0f%% of the pass; the next run resumes", sc.StopCause, 100*sc.PassProgress)
	}
	s.Log.Info(fmt.Sprintf("scrub %s: %s scrubbed this pass (%d runs), %d errors (%d corrected, %d uncorrectable)", how,
		human.Bytes(total.DataBytesScrubbed+total.TreeBytesScrubbed), pass.Runs, total.Errors(), total.CorrectedErrors, total.UncorrectableErrors),
		journal.MessageID(msgid.ScrubResult), "bytes_scrubbed", total.DataBytesScrubbed+total.TreeBytesScrubbed,
		"csum_errors", total.CsumErrors, "corrected_errors", total.CorrectedErrors, "uncorrectable_errors", total.UncorrectableErrors,
		"done", sc.Done, "stopped", sc.Stopped, "pass_progress", sc.PassProgress)
	rec := recordScrub(sc, total, err)
	s.Record(rec)
	if o.ScrubOnly {
		res := audit.ResultSuccess
		switch rec.Result {
		case state.ResultFailure:
			res = audit.ResultFailure
		case state.ResultInterrupted:
			res = audit.ResultInterrupted
		}
		s.AuditEvent(audit.Event{Action: "scrub", Result: res, Duration: sc.Seconds, Error: errText(err)})
	}
	return sc, err
}

// recordScrub is the run's state record: a failure when a device failed
// or the pass found errors it could not correct, else interrupted while
// the pass is not done (never a success), else a success.
func recordScrub(sc Scrub, total btrfs.ScrubProgress, err error) state.Record {
	rec := state.Record{Job: scrubJob, Result: state.ResultSuccess, Duration: sc.Seconds, Counters: map[string]int64{
		"bytes_scrubbed":       int64(total.DataBytesScrubbed + total.TreeBytesScrubbed),
		"errors":               int64(total.Errors()),
		"csum_errors":          int64(total.CsumErrors),
		"corrected_errors":     int64(total.CorrectedErrors),
		"uncorrectable_errors": int64(total.UncorrectableErrors),
		"done":                 b2i(sc.Done),
	}}
	switch {
	case err != nil:
		rec.Result, rec.Error = state.ResultFailure, err.Error()
	case !sc.Done:
		rec.Result = state.ResultInterrupted
		rec.Error = "stopped by its " + sc.Stopped + " before the end of the pass; the next run resumes"
		if sc.Stopped == StoppedSignal {
			rec.Error = sc.StopCause + " before the end of the pass; the next run resumes"
		}
	}
	rec.Details, _ = json.Marshal(sc)
	return rec
}

// readPass reads the pass file; without one, the resume offsets an older
// version kept in the scrub record's details, so an upgrade does not
// restart a pass.
func readPass(dir string) (scrubpass.Pass, error) {
	p, err := scrubpass.Read(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return p, err
	}
	r, err := state.Read(dir, scrubJob)
	if err != nil || len(r.Details) == 0 {
		return scrubpass.Pass{}, nil
	}
	var old Scrub
	if json.Unmarshal(r.Details, &old) != nil {
		return scrubpass.Pass{}, nil
	}
	p = scrubpass.Pass{Started: r.LastRun}
	for _, d := range old.Devices {
		p.Devices = append(p.Devices, scrubpass.Device{DevID: d.DevID, Resume: d.Progress.LastPhysical, Done: d.Done, Scrubbed: d.Pass})
	}
	if old.Done {
		p.LastCompleted = r.LastRun
	}
	return p, nil
}
