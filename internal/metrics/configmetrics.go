package metrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/server-impermanence/server-impermanence/internal/calendar"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/configsum"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

var (
	configValidDesc = desc("config_valid",
		"1 if /etc/server-impermanence/config.toml and its drop-ins load and validate, 0 if not (or missing).")
	initrdStaleDesc = desc("initrd_config_stale",
		"1 if the configuration the initrd rollback used at this boot differs from /etc's (rebuild the initrd), 0 if it is the same.")
	scheduleDesc = desc("snapshot_schedule_interval_seconds",
		"Longest time between two consecutive elapses of the subvolume's snapshot schedule (its own, its policy's or [snapshots]'s; absent when it does not repeat).",
		"subvolume")
	keepDaysDesc = desc("archive_keep_age_seconds", "Configured [archive].keep_days, in seconds.")
	keepMinDesc  = desc("archive_keep_min", "Configured [archive].keep_min.")
)

type configSource struct{}

func (configSource) name() string { return "config" }

func (configSource) describe(ch chan<- *prometheus.Desc) {
	ch <- configValidDesc
	ch <- initrdStaleDesc
	ch <- scheduleDesc
	ch <- keepDaysDesc
	ch <- keepMinDesc
	for _, d := range alertDescs {
		ch <- d
	}
}

func (configSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	cfg, err := s.config()
	valid := 1.0
	if err != nil {
		valid = 0
	}
	gauge(ch, configValidDesc, valid)
	alertThresholds(ch, cfg.Alerts) // the defaults when invalid
	if err == nil {
		// The longest gap, so that the stale alert does not fire early
		// (Friday to Monday for "Mon..Fri 02:00", 31 days for "monthly").
		for _, sv := range cfg.Subvolumes {
			if !sv.Snapshot {
				continue
			}
			if d, err := calendar.MaxInterval(sv.Schedule, s.now); err == nil {
				gauge(ch, scheduleDesc, d.Seconds(), sv.Name)
			}
		}
		gauge(ch, keepDaysDesc, float64(cfg.Archive.KeepDays)*86400)
		gauge(ch, keepMinDesc, float64(cfg.Archive.KeepMin))
	}
	// The staleness check needs only the bytes of /etc's configuration,
	// valid or not.
	rec, rerr := state.Read(s.opts.Paths.RunDir, "rollback")
	switch {
	case errors.Is(rerr, fs.ErrNotExist):
		return nil // no rollback at this boot: nothing to compare
	case rerr != nil:
		return rerr
	case rec.ConfigSHA256 == "":
		return nil
	case errors.Is(err, config.ErrNoConfig):
		gauge(ch, initrdStaleDesc, 1)
		return nil
	}
	if s.srcs == nil {
		return fmt.Errorf("initrd config check: %w", err)
	}
	stale := 0.0
	if !strings.EqualFold(rec.ConfigSHA256, configsum.Sum(s.hostSources())) {
		stale = 1
	}
	gauge(ch, initrdStaleDesc, stale)
	return nil
}

// hostSources returns the configuration sources named by their host paths
// (the digest covers the names), undoing Paths.Root.
func (s *scrape) hostSources() []config.Source {
	out := make([]config.Source, len(s.srcs))
	for i, src := range s.srcs {
		out[i] = src
		if rel, err := filepath.Rel(s.opts.Paths.Root, src.Name); err == nil && !strings.HasPrefix(rel, "..") {
			out[i].Name = "/" + rel
		}
	}
	return out
}
