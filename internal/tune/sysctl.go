package tune

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
	"github.com/server-impermanence/server-impermanence/internal/sysctl"
)

// Param is the outcome for one kernel parameter.
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	// Source is where the value comes from: the mode's sysctl file and
	// line, or the configuration's file:line:column; Replaces the source
	// of the value it overrides.
	Source   string `json:"source"`
	Replaces string `json:"replaces,omitempty"`
	// Status is changed, unchanged, would-change, skipped (the kernel has
	// no such parameter) or failed.
	Status Status `json:"status"`
	// Was is the kernel's value before, when it could be read.
	Was   string `json:"was,omitempty"`
	Error string `json:"error,omitempty"`
}

// Params writes the kernel parameters below procSys (/proc/sys) where the
// kernel's value differs, or with dryRun says which it would change, and
// reports each in order: the mode's values, then the configuration's (a
// key set by both is written once, with the configuration's value). A key
// the running kernel lacks is skipped with a warning, never a failure; a
// value the kernel refuses is a failure, and the other keys are still
// written. Changes, skips and failures are logged (not in a dry run); the
// returned error joins the failures.
func Params(log *slog.Logger, settings []sysctl.Setting, procSys string, dryRun bool) ([]Param, error) {
	out := []Param{}
	var errs []error
	for _, r := range sysctl.Apply(procSys, settings, dryRun) {
		p := Param{Key: r.Key, Value: r.Value, Source: r.Source, Replaces: r.Replaces, Was: r.Was}
		switch {
		case r.Missing:
			p.Status = StatusSkipped
			p.Error = fmt.Sprintf("the running kernel has no such parameter (/proc/sys/%s)", sysctl.ProcPath(r.Key))
		case r.Err != nil:
			p.Status, p.Error = StatusFailed, r.Err.Error()
			errs = append(errs, fmt.Errorf("kernel parameter %s (%s): %w", r.Key, r.Source, r.Err))
		case r.Changed && dryRun:
			p.Status = StatusWouldChange
		case r.Changed:
			p.Status = StatusChanged
		default:
			p.Status = StatusUnchanged
		}
		out = append(out, p)
		if !dryRun {
			logParam(log, p)
		}
	}
	return out, errors.Join(errs...)
}

func logParam(log *slog.Logger, p Param) {
	l := log.With("sysctl", p.Key, "value", p.Value, "source", p.Source, "result", string(p.Status))
	switch p.Status {
	case StatusChanged:
		was := p.Was
		if was == "" {
			was = "unreadable"
		}
		l.Info(fmt.Sprintf("sysctl %s = %s set (was %s; from %s)", p.Key, p.Value, was, p.Source),
			journal.MessageID(msgid.SysctlChanged), "previous", was)
	case StatusSkipped:
		l.Warn(fmt.Sprintf("sysctl %s = %s (from %s) not applied: %s", p.Key, p.Value, p.Source, p.Error),
			journal.MessageID(msgid.SysctlNotApplied), "error", p.Error)
	case StatusFailed:
		l.Error(fmt.Sprintf("sysctl %s = %s (from %s) failed: %s", p.Key, p.Value, p.Source, p.Error),
			journal.MessageID(msgid.SysctlNotApplied), "error", p.Error)
	}
}
