package metrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
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
		"Interval of the snapshot schedule, for the shorthand schedules (hourly, daily, ...).")
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
}

// shorthands are systemd.time(7)'s calendar shorthands with a fixed
// interval (monthly and longer: the longest interval, so stale alerts do
// not fire early).
var shorthands = map[string]float64{
	"minutely": 60, "hourly": 3600, "daily": 86400, "weekly": 7 * 86400,
	"monthly": 31 * 86400, "quarterly": 92 * 86400, "semiannually": 184 * 86400,
	"yearly": 366 * 86400, "annually": 366 * 86400,
}

func (configSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	cfg, err := s.config()
	valid := 1.0
	if err != nil {
		valid = 0
	}
	gauge(ch, configValidDesc, valid)
	if err == nil {
		if v, ok := shorthands[strings.ToLower(strings.TrimSpace(cfg.Snapshots.Schedule))]; ok {
			gauge(ch, scheduleDesc, v)
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
