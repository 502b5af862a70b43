package metrics

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/server-impermanence/server-impermanence/internal/scrubpass"
)

// DefaultScrubMaxAge is how long a server may go without a complete scrub
// pass before ImpermanenceScrubOverdue fires.
const DefaultScrubMaxAge = 5 * 7 * 24 * time.Hour

var (
	scrubProgressDesc = desc("scrub_pass_progress_ratio",
		"Fraction of the current scrub pass done: allocated bytes in dev extents scrubbed to their end over the allocated bytes; 1 once the pass is complete.")
	scrubStartedDesc = desc("scrub_pass_started_timestamp_seconds",
		"Start of the first run of the current (or last complete) scrub pass.")
	scrubCompletedDesc = desc("scrub_last_pass_completed_timestamp_seconds",
		"When the last complete scrub pass ended (absent before the first).")
	scrubRunsDesc   = desc("scrub_pass_runs", "Runs of impermanence-maintain that scrubbed in the current pass.")
	scrubMaxAgeDesc = desc("scrub_pass_max_age_seconds",
		"Longest time allowed without a complete scrub pass (ImpermanenceScrubOverdue); absent when [maintenance] scrub is off.")
)

// scrubSource reads the scrub pass (internal/scrubpass) from the state
// directory: a pass spans runs, so the last run's record alone cannot say
// how far the pass is or when one last completed.
type scrubSource struct{}

func (scrubSource) name() string { return "scrub" }

func (scrubSource) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{scrubProgressDesc, scrubStartedDesc, scrubCompletedDesc, scrubRunsDesc, scrubMaxAgeDesc} {
		ch <- d
	}
}

func (scrubSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	cfg, _ := s.config()
	if cfg.Maintenance.Scrub {
		gauge(ch, scrubMaxAgeDesc, DefaultScrubMaxAge.Seconds())
	}
	p, err := scrubpass.Read(s.opts.Paths.StateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never scrubbed
	}
	if err != nil {
		return err
	}
	gauge(ch, scrubProgressDesc, p.Progress())
	gauge(ch, scrubRunsDesc, float64(p.Runs))
	if !p.Started.IsZero() {
		gauge(ch, scrubStartedDesc, unixSeconds(p.Started))
	}
	if !p.LastCompleted.IsZero() {
		gauge(ch, scrubCompletedDesc, unixSeconds(p.LastCompleted))
	}
	return nil
}
