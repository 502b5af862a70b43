// Package maintain is impermanence-maintain (btrfs-maintenance.service):
// balance with progressive usage filters, scrub within a time budget that
// resumes where it stopped, and the device error counters, with every
// result in the state records "maintenance", "balance" and "scrub" for the
// exporter.
//
// Balance runs the configured filters in order (-dusage=5, then 10, then
// 25; -musage=5), each relocating only chunks at most that full, and is
// skipped for a block group type with less slack (allocated minus used)
// than one chunk: then no chunk can be freed. Scrub runs every device in
// parallel through BTRFS_IOC_SCRUB and keeps the progress the ioctl returns
// (github.com/dennwc/btrfs drops it); when the budget is spent it cancels
// and records each device's last physical offset, and the next run starts
// from there. Nothing runs while another exclusive operation (balance,
// device add/remove/replace, resize) is in progress: the run is skipped
// with a message saying which.
package maintain

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/human"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

const (
	program = "impermanence-maintain"
	jobName = "maintenance"
)

const usage = `Usage: impermanence-maintain [options]

Balances with the configured progressive usage filters (skipped when no
chunk can be freed), scrubs every device within --scrub-budget (resuming
where the previous run stopped) and records the device error counters.
Skipped when another exclusive operation (balance, replace, resize) runs.

Options:
`

const exitHelp = `
Exit status: 0 done or skipped, 1 a step failed or scrub found errors it could
not correct, 2 usage error.
`

// BalanceStep is one filter run.
type BalanceStep struct {
	Type       string  `json:"type"` // data | metadata
	Usage      int     `json:"usage"`
	Considered uint64  `json:"considered"`
	Relocated  uint64  `json:"relocated"`
	Seconds    float64 `json:"seconds"`
	Error      string  `json:"error,omitempty"`
}

// Balance is the balance part of a run.
type Balance struct {
	Steps     []BalanceStep `json:"steps,omitempty"`
	Skipped   []string      `json:"skipped,omitempty"` // why a type was skipped
	Relocated uint64        `json:"chunks_relocated"`
	Seconds   float64       `json:"seconds"`
}

// DeviceScrub is the scrub of one device in this pass.
type DeviceScrub struct {
	DevID    uint64              `json:"devid"`
	Start    uint64              `json:"start"` // where this run started
	Done     bool                `json:"done"`  // reached the end of the device
	Progress btrfs.ScrubProgress `json:"progress"`
	// Pass sums the progress of every run of this pass (a pass spans runs
	// until it reaches the end).
	Pass  btrfs.ScrubProgress `json:"pass"`
	Error string              `json:"error,omitempty"`
}

// Scrub is the scrub part of a run.
type Scrub struct {
	Devices []DeviceScrub `json:"devices"`
	Done    bool          `json:"done"`
	Resumed bool          `json:"resumed"`
	Seconds float64       `json:"seconds"`
}

// Report is the output of a run.
type Report struct {
	Skipped     string              `json:"skipped,omitempty"`
	Balance     *Balance            `json:"balance,omitempty"`
	Scrub       *Scrub              `json:"scrub,omitempty"`
	DeviceStats []btrfs.DeviceStats `json:"device_stats,omitempty"`
	Seconds     float64             `json:"seconds"`
}

// Options of a run.
type Options struct {
	SkipBalance, SkipScrub bool
	ScrubBudget            time.Duration
	ReadOnlyScrub          bool
	DryRun                 bool
}

// Run is the whole program; main only calls it.
func Run(ctx context.Context, args []string, env job.Env) int {
	env = env.WithDefaults()
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.Register(fl, true)
	var o Options
	fl.BoolVar(&o.SkipBalance, "skip-balance", false, "do not balance")
	fl.BoolVar(&o.SkipScrub, "skip-scrub", false, "do not scrub")
	fl.BoolVar(&o.ReadOnlyScrub, "read-only-scrub", false, "scrub without repairing")
	fl.DurationVar(&o.ScrubBudget, "scrub-budget", 4*time.Hour, "stop the scrub after this `duration` and resume there next run")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q\n", program, fl.Arg(0))
		return job.ExitUsage
	}
	o.DryRun = f.DryRun
	s, err := job.OpenRun(ctx, env, f, program, jobName, nil)
	if err != nil {
		return job.ExitFailure
	}
	defer s.Close()
	rep, err := Maintain(ctx, s, o)
	job.Print(env.Stdout, f.JSON, rep, rep.print)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	return job.ExitOK
}

// Maintain runs balance, scrub and the device counters on s's filesystem.
func Maintain(ctx context.Context, s *job.Session, o Options) (Report, error) {
	var rep Report
	t0 := time.Now()
	fsys, log := s.FS, s.Log
	op, err := fsys.ExclusiveOperation()
	if err == nil && op != "none" && op != "" {
		rep.Skipped = fmt.Sprintf("another exclusive operation is running (%s): balance and scrub skipped, try again later", op)
		log.Warn(rep.Skipped, "exclusive_operation", op)
		if !o.DryRun {
			s.AuditEvent(audit.Event{Action: "maintain", Result: audit.ResultSkipped, Error: rep.Skipped})
			s.Record(state.Record{Result: state.ResultSkipped, Error: rep.Skipped})
		}
		return rep, nil
	}
	var errs []error
	if !o.SkipBalance {
		b, err := balance(ctx, s, o.DryRun)
		rep.Balance = &b
		errs = append(errs, err)
	}
	if !o.SkipScrub && s.Config.Maintenance.Scrub && job.Stopped(ctx) == nil {
		sc, err := scrub(ctx, s, o)
		rep.Scrub = &sc
		errs = append(errs, err)
	}
	if rep.DeviceStats, err = fsys.DeviceStats(); err != nil {
		errs = append(errs, err)
	}
	for _, d := range rep.DeviceStats {
		if n := d.WriteErrs + d.ReadErrs + d.FlushErrs + d.CorruptionErrs + d.GenerationErrs; n > 0 {
			log.Warn(fmt.Sprintf("device %s has %d errors: write %d, read %d, flush %d, corruption %d, generation %d",
				d.Path, n, d.WriteErrs, d.ReadErrs, d.FlushErrs, d.CorruptionErrs, d.GenerationErrs), "device", d.Path)
		}
	}
	rep.Seconds = time.Since(t0).Seconds()
	err = errors.Join(append([]error{job.Stopped(ctx)}, errs...)...)
	if !o.DryRun {
		rec := state.Record{Result: state.ResultSuccess, Counters: map[string]int64{}}
		for _, d := range rep.DeviceStats {
			p := "device" + strconv.FormatUint(d.DevID, 10) + "_"
			rec.Counters[p+"write_errs"] = int64(d.WriteErrs)
			rec.Counters[p+"read_errs"] = int64(d.ReadErrs)
			rec.Counters[p+"flush_errs"] = int64(d.FlushErrs)
			rec.Counters[p+"corruption_errs"] = int64(d.CorruptionErrs)
			rec.Counters[p+"generation_errs"] = int64(d.GenerationErrs)
		}
		if err != nil {
			rec.Result, rec.Error = state.ResultFailure, err.Error()
		}
		rec.Details, _ = json.Marshal(rep)
		s.Record(rec)
		res := audit.ResultSuccess
		if err != nil {
			res = audit.ResultFailure
		}
		s.AuditEvent(audit.Event{Action: "maintain", Result: res, Duration: rep.Seconds, Error: errText(err)})
	}
	return rep, err
}

// balance runs the progressive usage filters of each type with something
// to reclaim. Stopped (ctx), it cancels the filter in progress (the chunks
// relocated so far stay relocated) and runs no other.
func balance(ctx context.Context, s *job.Session, dryRun bool) (Balance, error) {
	var b Balance
	t0 := time.Now()
	u, err := s.FS.Usage()
	if err != nil {
		return b, err
	}
	m := s.Config.Maintenance
	var errs []error
	for _, typ := range []struct {
		name   string
		meta   bool
		usages []int
		alloc  btrfs.Allocation
		slack  uint64
	}{
		{"data", false, m.BalanceDataUsage, u.Data, u.Data.Total - min(u.Data.Total, u.Data.Used)},
		{"metadata", true, m.BalanceMetadataUsage, u.Metadata, u.Metadata.Total - min(u.Metadata.Total, u.Metadata.Used+u.GlobalReserve)},
	} {
		if len(typ.usages) == 0 {
			continue
		}
		// The kernel caps a chunk at 10% of the filesystem and a stripe
		// at 1 GiB, below sysfs' chunk_size (10 GiB for data).
		chunk := min(chunkSize(s.FS, typ.name), 1<<30, max(u.Size/10, 16<<20))
		if typ.slack < chunk {
			msg := fmt.Sprintf("%s: nothing to reclaim (%s allocated but unused, less than one %s chunk)", typ.name, human.Bytes(typ.slack), human.Bytes(chunk))
			b.Skipped = append(b.Skipped, msg)
			s.Log.Info("balance skipped: "+msg, journal.MessageID(msgid.BalanceResult), "type", typ.name)
			continue
		}
		for _, pct := range typ.usages {
			if job.Stopped(ctx) != nil {
				break
			}
			st := BalanceStep{Type: typ.name, Usage: pct}
			if dryRun {
				b.Steps = append(b.Steps, st)
				continue
			}
			t1 := time.Now()
			cancelOnStop := context.AfterFunc(ctx, func() { s.FS.BalanceCancel() })
			p, err := s.FS.BalanceUsage(typ.meta, pct)
			cancelOnStop()
			st.Seconds, st.Considered, st.Relocated = time.Since(t1).Seconds(), p.Considered, p.Completed
			b.Relocated += p.Completed
			if err != nil {
				st.Error = err.Error()
				errs = append(errs, err)
			}
			b.Steps = append(b.Steps, st)
			if err != nil {
				s.Log.Error(fmt.Sprintf("balance %s usage=%d failed: %v", typ.name, pct, err), journal.MessageID(msgid.BalanceResult))
				break
			}
			s.Log.Info(fmt.Sprintf("balance %s usage=%d: %d of %d chunks relocated", typ.name, pct, p.Completed, p.Considered),
				journal.MessageID(msgid.BalanceResult), "type", typ.name, "usage", pct, "relocated", p.Completed)
		}
	}
	b.Seconds = time.Since(t0).Seconds()
	err = errors.Join(errs...)
	if !dryRun {
		rec := state.Record{Job: "balance", Result: state.ResultSuccess, Duration: b.Seconds,
			Counters: map[string]int64{"chunks_relocated": int64(b.Relocated)}}
		if err != nil {
			rec.Result, rec.Error = state.ResultFailure, err.Error()
			if errors.Is(err, btrfs.ErrBusy) {
				rec.Result = state.ResultSkipped
			}
		}
		rec.Details, _ = json.Marshal(b)
		s.Record(rec)
	}
	return b, err
}

// chunkSize is the size of a new chunk of typ, from sysfs (1 GiB when
// unknown).
func chunkSize(fsys *btrfs.FS, typ string) uint64 {
	b, err := os.ReadFile(filepath.Join(fsys.SysfsDir(), "allocation", typ, "chunk_size"))
	if err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 {
			return v
		}
	}
	return 1 << 30
}

// scrub scrubs every device in parallel from where the last run stopped,
// cancelling when the budget is spent.
func scrub(ctx context.Context, s *job.Session, o Options) (Scrub, error) {
	var sc Scrub
	t0 := time.Now()
	devs, err := s.FS.DeviceStats()
	if err != nil {
		return sc, err
	}
	var prev Scrub
	if r, err := state.Read(s.StateDir, "scrub"); err == nil && len(r.Details) > 0 {
		json.Unmarshal(r.Details, &prev)
	}
	for _, d := range devs {
		ds := DeviceScrub{DevID: d.DevID}
		for _, p := range prev.Devices {
			if p.DevID == d.DevID && !p.Done && p.Progress.LastPhysical > 0 {
				ds.Start, ds.Pass = p.Progress.LastPhysical, p.Pass
				sc.Resumed = true
			}
		}
		sc.Devices = append(sc.Devices, ds)
	}
	if o.DryRun {
		return sc, nil
	}
	stop := make(chan struct{})
	var cancelled sync.Once
	cancel := func() { cancelled.Do(func() { s.FS.ScrubCancel() }) }
	timer := time.AfterFunc(o.ScrubBudget, cancel)
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-stop:
		}
	}()
	var wg sync.WaitGroup
	for i := range sc.Devices {
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
				// Budget spent: resume from LastPhysical next run.
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
	cancelled.Do(func() {})
	sc.Seconds = time.Since(t0).Seconds()
	sc.Done = true
	var errs []error
	var total btrfs.ScrubProgress
	for _, d := range sc.Devices {
		sc.Done = sc.Done && d.Done
		total = add(total, d.Pass)
		if d.Error != "" {
			errs = append(errs, fmt.Errorf("scrub device %d: %s", d.DevID, d.Error))
		}
	}
	if bad := total.Errors() - min(total.Errors(), total.CorrectedErrors); bad > 0 {
		errs = append(errs, fmt.Errorf("scrub found %d errors it could not correct (csum %d, read %d, verify %d, uncorrectable %d): restore the damaged files from a backup",
			bad, total.CsumErrors, total.ReadErrors, total.VerifyErrors, total.UncorrectableErrors))
	}
	state := "finished"
	if !sc.Done {
		state = "stopped at the time budget; the next run resumes"
	}
	s.Log.Info(fmt.Sprintf("scrub %s: %s scrubbed this pass, %d errors (%d corrected, %d uncorrectable)", state,
		human.Bytes(total.DataBytesScrubbed+total.TreeBytesScrubbed), total.Errors(), total.CorrectedErrors, total.UncorrectableErrors),
		journal.MessageID(msgid.ScrubResult), "bytes_scrubbed", total.DataBytesScrubbed+total.TreeBytesScrubbed,
		"csum_errors", total.CsumErrors, "corrected_errors", total.CorrectedErrors, "uncorrectable_errors", total.UncorrectableErrors,
		"done", sc.Done)
	err = errors.Join(errs...)
	rec := recordScrub(sc, total, err)
	s.Record(rec)
	return sc, err
}

func recordScrub(sc Scrub, total btrfs.ScrubProgress, err error) state.Record {
	rec := state.Record{Job: "scrub", Result: state.ResultSuccess, Duration: sc.Seconds, Counters: map[string]int64{
		"bytes_scrubbed":       int64(total.DataBytesScrubbed + total.TreeBytesScrubbed),
		"errors":               int64(total.Errors()),
		"csum_errors":          int64(total.CsumErrors),
		"corrected_errors":     int64(total.CorrectedErrors),
		"uncorrectable_errors": int64(total.UncorrectableErrors),
		"done":                 b2i(sc.Done),
	}}
	if err != nil {
		rec.Result, rec.Error = state.ResultFailure, err.Error()
	}
	rec.Details, _ = json.Marshal(sc)
	return rec
}

func add(a, b btrfs.ScrubProgress) btrfs.ScrubProgress {
	a.DataExtentsScrubbed += b.DataExtentsScrubbed
	a.TreeExtentsScrubbed += b.TreeExtentsScrubbed
	a.DataBytesScrubbed += b.DataBytesScrubbed
	a.TreeBytesScrubbed += b.TreeBytesScrubbed
	a.ReadErrors += b.ReadErrors
	a.CsumErrors += b.CsumErrors
	a.VerifyErrors += b.VerifyErrors
	a.NoCsum += b.NoCsum
	a.CsumDiscards += b.CsumDiscards
	a.SuperErrors += b.SuperErrors
	a.MallocErrors += b.MallocErrors
	a.UncorrectableErrors += b.UncorrectableErrors
	a.CorrectedErrors += b.CorrectedErrors
	a.UnverifiedErrors += b.UnverifiedErrors
	return a
}

func (r Report) print(w io.Writer) {
	if r.Skipped != "" {
		fmt.Fprintf(w, "skipped: %s\n", r.Skipped)
		return
	}
	if b := r.Balance; b != nil {
		for _, m := range b.Skipped {
			fmt.Fprintf(w, "balance skipped: %s\n", m)
		}
		for _, st := range b.Steps {
			fmt.Fprintf(w, "balance %s usage=%d: %d of %d chunks relocated in %.2fs%s\n", st.Type, st.Usage, st.Relocated, st.Considered, st.Seconds, suffix(st.Error))
		}
	}
	if sc := r.Scrub; sc != nil {
		for _, d := range sc.Devices {
			state := "finished"
			if !d.Done {
				state = "stopped at " + strconv.FormatUint(d.Progress.LastPhysical, 10) + ", resumes next run"
			}
			fmt.Fprintf(w, "scrub device %d from %d: %s; this pass %s data + %s metadata, errors: csum %d, read %d, verify %d, corrected %d, uncorrectable %d%s\n",
				d.DevID, d.Start, state, human.Bytes(d.Pass.DataBytesScrubbed), human.Bytes(d.Pass.TreeBytesScrubbed),
				d.Pass.CsumErrors, d.Pass.ReadErrors, d.Pass.VerifyErrors, d.Pass.CorrectedErrors, d.Pass.UncorrectableErrors, suffix(d.Error))
		}
	}
	for _, d := range r.DeviceStats {
		fmt.Fprintf(w, "device %d %s: write %d, read %d, flush %d, corruption %d, generation %d errors\n",
			d.DevID, d.Path, d.WriteErrs, d.ReadErrs, d.FlushErrs, d.CorruptionErrs, d.GenerationErrs)
	}
}

func suffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
