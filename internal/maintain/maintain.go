// Package maintain is impermanence-maintain: balance with progressive usage
// filters and the device error counters (btrfs-maintenance.service, which
// runs it with --skip-scrub), and scrub within a time budget that resumes
// where it stopped (server-impermanence-scrub.service, --scrub-only), with
// every result in the state records "maintenance", "balance" and "scrub"
// for the exporter, and the scrub pass in internal/scrubpass. Between
// balance and scrub it measures the storage overhead of snapshots and
// archives (internal/overhead over btrfs.FS.FileExtents: no quota groups)
// into the state record "overhead".
//
// Balance runs the configured filters in order (-dusage=5, then 10, then
// 25; -musage=5), each relocating only chunks at most that full, and is
// skipped for a block group type with less slack (allocated minus used)
// than one chunk: then no chunk can be freed. Scrub runs every device in
// parallel through BTRFS_IOC_SCRUB and keeps the progress the ioctl returns
// (github.com/dennwc/btrfs drops it); when the budget is spent, or on
// SIGTERM, it cancels, records each device's last physical offset and the
// run as interrupted, and the next run starts from there; a device that
// reached its end waits for the others before a new pass begins. The
// budget never outlasts the unit that runs the scrub: under systemd it is
// shortened to end Margin before the unit's TimeoutStartSec=, read with
// systemctl show. A scrub takes the scrub lock, not the job lock: snapshots and
// cleanups go on while it runs.
//
// Nothing runs while another exclusive operation (balance, device
// add/remove/replace, resize) is in progress: the run is skipped with a
// message saying which; a scrub alone goes on beside a balance, which the
// kernel allows.
package maintain

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/human"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/overhead"
	"github.com/server-impermanence/server-impermanence/internal/state"
	"github.com/server-impermanence/server-impermanence/internal/timespan"
)

const (
	program = "impermanence-maintain"
	jobName = "maintenance"
)

const usage = `Usage: impermanence-maintain [options]

Balances with the configured progressive usage filters (skipped when no
chunk can be freed), measures the storage overhead of snapshots and
archives, scrubs every device within --scrub-budget (resuming where the
previous run stopped) and records the device error counters.
Skipped when another exclusive operation (balance, replace, resize) runs.
With --scrub-only it only scrubs, without the job lock, and under systemd
stops before its unit's TimeoutStartSec=.

Options:
`

const exitHelp = `
Exit status: 0 done, skipped, or a scrub stopped by its budget or a signal
(recorded as interrupted; the next run resumes), 1 a step failed or scrub
found errors it could not correct, 2 usage error.
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

// Report is the output of a run.
type Report struct {
	Skipped     string              `json:"skipped,omitempty"`
	Balance     *Balance            `json:"balance,omitempty"`
	Overhead    *overhead.Record    `json:"overhead,omitempty"`
	Scrub       *Scrub              `json:"scrub,omitempty"`
	DeviceStats []btrfs.DeviceStats `json:"device_stats,omitempty"`
	Seconds     float64             `json:"seconds"`
}

// Options of a run.
type Options struct {
	SkipBalance, SkipScrub, SkipOverhead bool
	// ScrubOnly scrubs and records only the scrub, without the job lock.
	ScrubOnly   bool
	ScrubBudget time.Duration
	// OverheadBudget bounds the overhead measurement: past it the
	// previous measurement stays and the run goes on.
	OverheadBudget time.Duration
	ReadOnlyScrub  bool
	DryRun         bool
}

// UnitTimeout returns the TimeoutStartSec= of the systemd unit running this
// process (finite false: it has none, or systemd does not run it).
type UnitTimeout func(ctx context.Context) (unit string, timeout time.Duration, finite bool, err error)

// Run is the whole program; main only calls it. Run by systemd, the scrub
// budget fits the unit's start timeout (SystemdUnitTimeout).
func Run(ctx context.Context, args []string, env job.Env) int {
	return RunWith(ctx, args, env, SystemdUnitTimeout)
}

// SystemdUnitTimeout returns the start timeout of the unit of this
// process when systemd started it ($INVOCATION_ID): the unit from
// /proc/self/cgroup, its TimeoutStartUSec from systemctl show (the job
// binaries link no D-Bus client).
func SystemdUnitTimeout(ctx context.Context) (string, time.Duration, bool, error) {
	if os.Getenv("INVOCATION_ID") == "" {
		return "", 0, false, nil
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", 0, false, err
	}
	unit, err := UnitFromCgroup(string(b))
	if err != nil {
		return "", 0, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", "show", "--property=TimeoutStartUSec", "--value", "--", unit).Output()
	if err != nil {
		return unit, 0, false, fmt.Errorf("systemctl show %s: %w", unit, err)
	}
	d, finite, err := ParseTimeout(strings.TrimSpace(string(out)))
	return unit, d, finite, err
}

// UnitFromCgroup returns the service whose cgroup /proc/self/cgroup names
// (the unified hierarchy's "0::" line, else systemd's named one).
func UnitFromCgroup(cgroup string) (string, error) {
	var path string
	for _, l := range strings.Split(cgroup, "\n") {
		f := strings.SplitN(l, ":", 3) // hierarchy-ID:controllers:path
		switch {
		case len(f) != 3:
		case f[0] == "0" && f[1] == "":
			path = f[2]
		case f[1] == "name=systemd" && path == "":
			path = f[2]
		}
	}
	for _, elem := range slices.Backward(strings.Split(path, "/")) {
		if strings.HasSuffix(elem, ".service") {
			return elem, nil
		}
	}
	return "", fmt.Errorf("no service in the cgroup %q", path)
}

// ParseTimeout parses systemctl show's TimeoutStartUSec: a time span, or
// "infinity" (finite false, as is 0).
func ParseTimeout(s string) (time.Duration, bool, error) {
	if s == "infinity" {
		return 0, false, nil
	}
	d, err := timespan.Parse(s)
	if err != nil {
		return 0, false, fmt.Errorf("TimeoutStartUSec: %w", err)
	}
	return d, d > 0, nil
}

// RunWith is Run with the unit's timeout from timeout (nil: none).
func RunWith(ctx context.Context, args []string, env job.Env, timeout UnitTimeout) int {
	env = env.WithDefaults().ShowPaths()
	fl := flag.NewFlagSet(program, flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.Register(fl, true)
	var o Options
	fl.BoolVar(&o.SkipBalance, "skip-balance", false, "do not balance")
	fl.BoolVar(&o.SkipScrub, "skip-scrub", false, "do not scrub")
	fl.BoolVar(&o.SkipOverhead, "skip-overhead", false, "do not measure the storage overhead of snapshots and archives")
	fl.BoolVar(&o.ScrubOnly, "scrub-only", false, "only scrub (no balance), without the job lock; the state record is scrub's")
	fl.BoolVar(&o.ReadOnlyScrub, "read-only-scrub", false, "scrub without repairing")
	fl.DurationVar(&o.OverheadBudget, "overhead-budget", DefaultOverheadBudget, "stop measuring the storage overhead after this `duration`, keeping the previous measurement")
	fl.DurationVar(&o.ScrubBudget, "scrub-budget", DefaultScrubBudget, "stop the scrub after this `duration` and resume there next run (under systemd, at most the unit's TimeoutStartSec= less a margin)")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, exitHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "%s: unexpected argument %q\n", program, fl.Arg(0))
		return job.ExitUsage
	}
	if o.ScrubOnly && (o.SkipScrub || o.SkipBalance || o.SkipOverhead) {
		return job.Usage(env, program, "--scrub-only excludes --skip-scrub, --skip-balance and --skip-overhead")
	}
	if o.ScrubBudget <= 0 {
		return job.Usage(env, program, "--scrub-budget %s: must be positive", o.ScrubBudget)
	}
	if o.OverheadBudget <= 0 {
		return job.Usage(env, program, "--overhead-budget %s: must be positive", o.OverheadBudget)
	}
	o.DryRun = f.DryRun
	var s *job.Session
	var err error
	if o.ScrubOnly {
		s, err = openScrub(ctx, env, f, o)
	} else {
		s, err = job.OpenRun(ctx, env, f, program, jobName, nil)
	}
	if err != nil {
		return job.ExitFailure
	}
	defer s.Close()
	if timeout != nil && !o.SkipScrub {
		unit, d, finite, err := timeout(ctx)
		if err != nil {
			s.Log.Warn("cannot read the unit's start timeout; the scrub budget is --scrub-budget", "error", err.Error())
		}
		if b := Budget(o.ScrubBudget, d, finite); b < o.ScrubBudget {
			s.Log.Info(fmt.Sprintf("scrub budget %s: %s ends %s before %s's TimeoutStartSec=%s", b, o.ScrubBudget, Margin(d), unit, d),
				"unit", unit, "budget", b.String())
			o.ScrubBudget = b
		}
	}
	if o.ScrubBudget <= 0 {
		return job.Usage(env, program, "the unit's TimeoutStartSec= leaves no time to scrub")
	}
	rep, err := Maintain(ctx, s, o)
	job.Print(env.Stdout, f.JSON, rep, rep.print)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	return job.ExitOK
}

// openScrub opens a --scrub-only run: the configuration, the top level
// (read-only for a dry run or a read-only scrub) and the audit log, but not
// the job lock (scrub takes the scrub lock). A run that cannot start records
// the failure, as job.OpenRun does.
func openScrub(ctx context.Context, env job.Env, f job.Flags, o Options) (*job.Session, error) {
	s := job.Begin(ctx, env, program, scrubJob)
	s.Records = !o.DryRun
	cfg, err := job.LoadConfig(f.Config, f.Default)
	if err == nil {
		s.Config = cfg
		err = s.Reach(f, o.DryRun || o.ReadOnlyScrub)
	}
	if err == nil && !o.DryRun && !o.ReadOnlyScrub {
		err = s.Writable() // a repairing scrub writes
	}
	if err != nil {
		s.Close()
		fmt.Fprintf(s.Env.Stderr, "%s: %v\n", program, err)
		if errors.Is(err, job.ErrStopped) {
			s.LogStopped(err)
		}
		if !o.DryRun {
			job.RecordFailure(s.Env, scrubJob, s.Start, err)
		}
		return nil, err
	}
	if !o.DryRun {
		s.OpenAudit(s.Env.AuditPath())
	}
	s.Now = s.Env.Now()
	return s, nil
}

// Maintain runs balance, scrub and the device counters on s's filesystem
// (with ScrubOnly, the scrub alone).
func Maintain(ctx context.Context, s *job.Session, o Options) (Report, error) {
	var rep Report
	t0 := s.Env.Now()
	fsys, log := s.FS, s.Log
	if o.ScrubOnly {
		return scrubOnly(ctx, s, o)
	}
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
	if !o.SkipOverhead && job.Stopped(ctx) == nil {
		ov, err := measureOverhead(ctx, s, o.DryRun, o.OverheadBudget)
		rep.Overhead = &ov
		errs = append(errs, err)
	}
	if !o.SkipScrub && s.Config.Maintenance.Scrub && job.Stopped(ctx) == nil {
		sc, err := scrub(ctx, s, o, o.ScrubBudget)
		rep.Scrub = &sc
		errs = append(errs, err)
	}
	if rep.DeviceStats, err = fsys.DeviceStats(); err != nil {
		errs = append(errs, err)
	}
	warnDeviceErrors(log, rep.DeviceStats)
	rep.Seconds = s.Env.Now().Sub(t0).Seconds()
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

// warnDeviceErrors logs each device with errors.
func warnDeviceErrors(log *slog.Logger, stats []btrfs.DeviceStats) {
	for _, d := range stats {
		if n := d.WriteErrs + d.ReadErrs + d.FlushErrs + d.CorruptionErrs + d.GenerationErrs; n > 0 {
			log.Warn(fmt.Sprintf("device %s has %d errors: write %d, read %d, flush %d, corruption %d, generation %d",
				d.Path, n, d.WriteErrs, d.ReadErrs, d.FlushErrs, d.CorruptionErrs, d.GenerationErrs), "device", d.Path)
		}
	}
}

// scrubOnly is a --scrub-only run: skipped when the configuration turns
// scrub off or during an exclusive operation other than a balance (the
// kernel scrubs beside a balance), else the scrub and the device counters.
func scrubOnly(ctx context.Context, s *job.Session, o Options) (Report, error) {
	var rep Report
	t0 := s.Env.Now()
	skip := func(msg string, attrs ...any) (Report, error) {
		rep.Skipped = msg
		s.Log.Warn("scrub skipped: "+msg, append([]any{journal.MessageID(msgid.ScrubResult)}, attrs...)...)
		if !o.DryRun {
			s.AuditEvent(audit.Event{Action: "scrub", Result: audit.ResultSkipped, Error: msg})
			s.Record(state.Record{Job: scrubJob, Result: state.ResultSkipped, Error: msg})
		}
		return rep, nil
	}
	if !s.Config.Maintenance.Scrub {
		return skip("[maintenance] scrub = false")
	}
	if op, err := s.FS.ExclusiveOperation(); err == nil && op != "none" && op != "" && !strings.HasPrefix(op, "balance") {
		return skip(fmt.Sprintf("another exclusive operation is running (%s), try again later", op), "exclusive_operation", op)
	}
	sc, err := scrub(ctx, s, o, o.ScrubBudget)
	rep.Scrub = &sc
	rep.Skipped = sc.Skipped
	if stop := job.Stopped(ctx); stop != nil && sc.Stopped == StoppedSignal {
		s.LogStopped(stop) // recorded as interrupted; exit 0, the pass resumes
	}
	errs := []error{err}
	var derr error
	if rep.DeviceStats, derr = s.FS.DeviceStats(); derr != nil {
		errs = append(errs, derr)
	}
	warnDeviceErrors(s.Log, rep.DeviceStats)
	rep.Seconds = s.Env.Now().Sub(t0).Seconds()
	return rep, errors.Join(errs...)
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
	if r.Overhead != nil {
		printOverhead(w, r.Overhead)
	}
	if sc := r.Scrub; sc != nil {
		for _, d := range sc.Devices {
			state := "finished"
			switch {
			case d.Skipped:
				state = "already finished in this pass"
			case !d.Done:
				state = "stopped at " + strconv.FormatUint(d.Progress.LastPhysical, 10) + ", resumes next run"
			}
			fmt.Fprintf(w, "scrub device %d from %d: %s; this pass %s data + %s metadata, errors: csum %d, read %d, verify %d, corrected %d, uncorrectable %d%s\n",
				d.DevID, d.Start, state, human.Bytes(d.Pass.DataBytesScrubbed), human.Bytes(d.Pass.TreeBytesScrubbed),
				d.Pass.CsumErrors, d.Pass.ReadErrors, d.Pass.VerifyErrors, d.Pass.CorrectedErrors, d.Pass.UncorrectableErrors, suffix(d.Error))
		}
		switch {
		case sc.Done:
			fmt.Fprintf(w, "scrub pass complete (started %s)\n", sc.PassStarted.Format(time.RFC3339))
		case sc.Stopped != "":
			fmt.Fprintf(w, "scrub pass %.0f%% done (started %s), stopped by its %s; the next run resumes\n",
				100*sc.PassProgress, sc.PassStarted.Format(time.RFC3339), sc.Stopped)
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
