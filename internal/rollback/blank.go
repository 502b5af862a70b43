package rollback

import (
	"github.com/server-impermanence/server-impermanence/internal/audit"
	"github.com/server-impermanence/server-impermanence/internal/blanks"
	"github.com/server-impermanence/server-impermanence/internal/btrfs"
	"github.com/server-impermanence/server-impermanence/internal/cmdline"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/journal"
	"github.com/server-impermanence/server-impermanence/internal/msgid"
)

// chooseBlanks decides the blank each ephemeral subvolume with a blank
// resets from this boot (blanks.Choose), counts a trial boot in the trial
// file before anything changes (not in a dry run), and says so in the
// journal and the audit log. Nothing here refuses the rollback: an
// unreadable trial file is a warning and no trial, an unusable request is
// the configured blank with a warning, a trial that cannot be counted is
// the previous good blank. It returns the blank to reset from by
// subvolume.
func (r *runner) chooseBlanks(fsys *btrfs.FS, cfg *config.Config, obs Observed, line string, dryRun bool) map[string]string {
	rel := blanks.TrialPath(cfg)
	trial, err := blanks.ReadTrial(fsys.Mountpoint(), rel)
	if err != nil {
		r.s.Log.Warn("blank trial unreadable, ignored: every blank resets as configured", "error", err)
		trial = nil
	}
	owner, _ := blanks.Owner(cfg)
	in := blanks.Input{Subvolumes: obs.Subvolumes, Request: cmdline.Parse(line).Blank(true), Trial: trial, Tries: cfg.Blank.Tries}
	from := map[string]string{}
	for _, s := range cfg.Ephemeral() {
		if s.Blank == "" {
			continue
		}
		c := blanks.Choose(s, s.Name == owner.Name, in)
		if c.Trial != nil && !dryRun {
			if err := blanks.WriteTrial(fsys.Mountpoint(), rel, *c.Trial); err != nil {
				c = blanks.FallbackNow(c, obs.Subvolumes, *c.Trial, err)
			}
		}
		c.Trial = nil
		r.logChoice(c, in.Request != "", dryRun)
		r.res.Blanks = append(r.res.Blanks, c)
		from[s.Name] = c.From
	}
	return from
}

// logChoice says in the journal (and, unless a dry run, in audit events
// that run writes once the audit log is open)
// why a subvolume resets from the blank it does, when that is not simply
// its configured blank.
func (r *runner) logChoice(c blanks.Choice, requested, dryRun bool) {
	log := r.s.Log.With("subvolume", c.Subvolume, "blank", c.Blank, "from", c.From, "source", string(c.Source))
	for _, w := range c.Warnings {
		id := msgid.BlankFallback
		if requested && c.Source != blanks.SourceRequest {
			id = msgid.BlankRequestIgnored
		}
		log.Warn(w, journal.MessageID(id))
	}
	action := ""
	switch c.Source {
	case blanks.SourceRequest:
		log.Info(c.Reason, journal.MessageID(msgid.BlankRequested))
		action = "blank-request"
	case blanks.SourceTrial:
		log.Info(c.Reason, journal.MessageID(msgid.BlankTrial))
		action = "blank-trial"
	case blanks.SourceFallback:
		log.Warn(c.Reason, journal.MessageID(msgid.BlankFallback))
		action = "blank-fallback"
	}
	if action != "" && !dryRun {
		r.blankEvents = append(r.blankEvents, audit.Event{Action: action, Subvolume: c.Subvolume, Path: c.From,
			Result: audit.ResultSuccess, BootID: r.res.BootID})
	}
}
