package maintain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/human"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/overhead"
	"github.com/server-impermanence/server-impermanence/internal/overhead/fsoverhead"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// DefaultOverheadBudget is --overhead-budget's default: well inside
// btrfs-maintenance.service's 300 s with the balance before it (5,000
// snapshots took about 20 s on a 2-core machine).
const DefaultOverheadBudget = 2 * time.Minute

// measureOverhead is the overhead step: measured, logged per subvolume
// (a warning above the budget), recorded in overhead.json. A measurement
// that outlasts budget is stopped and recorded interrupted, the previous
// one kept; that is a warning, not a failure of the run.
func measureOverhead(ctx context.Context, s *job.Session, dryRun bool, budget time.Duration) (overhead.Record, error) {
	t0 := time.Now()
	o := overhead.Record{BudgetPercent: s.Config.Maintenance.OverheadBudget}
	mctx, cancel := context.WithTimeout(ctx, budget)
	m, err := fsoverhead.Measure(mctx, s.FS, s.Config)
	cancel()
	o.Seconds = time.Since(t0).Seconds()
	overBudget := err != nil && job.Stopped(ctx) == nil && errors.Is(mctx.Err(), context.DeadlineExceeded)
	if overBudget {
		err = fmt.Errorf("storage overhead: not measured within --overhead-budget %s: the previous measurement is kept", budget)
	}
	if err != nil {
		if !overBudget {
			err = fmt.Errorf("storage overhead: %w", err)
		}
		o.Error = err.Error()
		if prev, perr := state.Read(s.StateDir, overhead.Job); perr == nil {
			var p overhead.Record
			if json.Unmarshal(prev.Details, &p) == nil {
				o.Measurement, o.MeasuredAt = p.Measurement, p.MeasuredAt
			}
		}
	} else {
		o.Measurement, o.MeasuredAt = m, s.Now.UTC()
		for _, sv := range m.Subvolumes {
			msg := fmt.Sprintf("storage overhead of %s: %s held only by %d snapshots and %d archives, %s of %s live (compression ratio %.2f)",
				sv.Name, human.Bytes(sv.Exclusive), sv.Snapshots, sv.Archives, percent(sv.Ratio()), human.Bytes(sv.Live.Disk), sv.CompressionRatio())
			attrs := []any{"subvolume", sv.Name, "exclusive_bytes", sv.Exclusive, "live_bytes", sv.Live.Disk}
			if sv.Over(o.BudgetPercent) {
				s.Log.Warn(msg+fmt.Sprintf(", over the budget of %d%%", o.BudgetPercent), attrs...)
			} else {
				s.Log.Info(msg, attrs...)
			}
		}
		s.Log.Info(fmt.Sprintf("storage overhead measured in %.2fs: %d trees read (%d whole), %d extent items", o.Seconds, m.Walks, m.FullWalks, m.Items))
	}
	if !dryRun {
		rec := state.Record{Job: overhead.Job, Result: state.ResultSuccess, Duration: o.Seconds,
			Counters: map[string]int64{"walks": int64(o.Walks), "full_walks": int64(o.FullWalks), "items": int64(o.Items)}}
		if err != nil {
			rec.Result, rec.Error = state.ResultFailure, err.Error()
			if job.Stopped(ctx) != nil || overBudget {
				rec.Result = state.ResultInterrupted
			}
		}
		rec.Details, _ = json.Marshal(o)
		s.Record(rec)
	}
	if overBudget {
		s.Log.Warn(err.Error(), "budget", budget.String())
		return o, nil
	}
	return o, err
}

// percent formats a ratio as a percentage.
func percent(r float64) string {
	if math.IsInf(r, 1) {
		return "∞ %"
	}
	return fmt.Sprintf("%.1f %%", 100*r)
}

func printOverhead(w io.Writer, o *overhead.Record) {
	if o.Error != "" {
		fmt.Fprintf(w, "storage overhead: %s\n", o.Error)
		return
	}
	for _, sv := range o.Subvolumes {
		over := ""
		if sv.Over(o.BudgetPercent) {
			over = fmt.Sprintf(", over the budget of %d %%", o.BudgetPercent)
		}
		fmt.Fprintf(w, "overhead %s: %s of %s live (%s only in %d snapshots, %d archives), compression ratio %.2f%s\n",
			sv.Name, percent(sv.Ratio()), human.Bytes(sv.Live.Disk), human.Bytes(sv.Exclusive), sv.Snapshots, sv.Archives, sv.CompressionRatio(), over)
	}
	fmt.Fprintf(w, "overhead measured in %.2fs: %d trees read (%d whole), %d extent items\n", o.Seconds, o.Walks, o.FullWalks, o.Items)
}
