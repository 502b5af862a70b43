package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/server-impermanence/server-impermanence/internal/calendar"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// TargetGrace is added to a target's schedule interval before its backups
// count as stale (ImpermanenceReplicationStale): a send may run for a day
// (its unit's TimeoutStartSec=).
const TargetGrace = 24 * time.Hour

var (
	targetOKDesc = desc("target_last_success_timestamp_seconds",
		"When the last send of the subvolume to the target completed (or found nothing to send).", "target", "subvolume")
	targetNewestDesc = desc("target_newest_snapshot_timestamp_seconds",
		"Time in the name of the newest snapshot the target holds; time() minus this is the target's lag.", "target", "subvolume")
	targetCountDesc  = desc("target_snapshots", "Snapshots of the subvolume the target holds (received, read-only).", "target", "subvolume")
	targetBytesDesc  = desc("target_sent_bytes_total", "Bytes of send stream sent to the target.", "target")
	targetMaxAgeDesc = desc("target_max_age_seconds",
		"Longest time allowed since the last successful send (the schedule's longest interval plus a day): ImpermanenceReplicationStale.", "target")
)

var targetDescs = []*prometheus.Desc{targetOKDesc, targetNewestDesc, targetCountDesc, targetBytesDesc, targetMaxAgeDesc}

// collectTargets serves the record (internal/targetstate) of every
// configured [[target]]; a target never sent to has none yet.
func collectTargets(s *scrape, ch chan<- prometheus.Metric) error {
	cfg, _ := s.config()
	if len(cfg.Targets) == 0 {
		return nil
	}
	records, err := targetstate.ReadAll(s.opts.Paths.StateDir)
	for _, t := range cfg.Targets {
		if d, err := calendar.MaxInterval(t.Schedule, s.now); err == nil {
			gauge(ch, targetMaxAgeDesc, (d + TargetGrace).Seconds(), t.Name)
		}
		rec, ok := records[t.Name]
		if !ok {
			continue
		}
		counter(ch, targetBytesDesc, float64(rec.SentBytes), t.Name)
		for _, sv := range t.Subvolumes {
			st, ok := rec.Subvolumes[sv]
			if !ok {
				continue
			}
			if !st.LastSuccess.IsZero() {
				gauge(ch, targetOKDesc, unixSeconds(st.LastSuccess), t.Name, sv)
			}
			gauge(ch, targetCountDesc, float64(len(st.Snapshots)), t.Name, sv)
			var newest time.Time
			for _, h := range st.Snapshots {
				if ts, _, ok := names.ParseSnapshot(h.Name); ok && ts.After(newest) {
					newest = ts
				}
			}
			if !newest.IsZero() {
				gauge(ch, targetNewestDesc, unixSeconds(newest), t.Name, sv)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("targets: %w", err)
	}
	return nil
}
