package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/server-impermanence/server-impermanence/internal/config"
)

// The [alerts] thresholds, which the shipped rules compare against.
var (
	alertFreeSpaceDesc = desc("alert_free_space_ratio",
		"Configured [alerts].free_space_percent as a ratio: ImpermanenceFilesystemSpaceLow below it (0 disables).")
	alertHorizonDesc = desc("alert_space_exhaustion_horizon_seconds",
		"Configured [alerts].space_exhaustion_horizon: ImpermanenceFilesystemSpaceExhaustion when free space is predicted to run out within it.")
	alertStaleDesc = desc("alert_snapshot_stale_intervals",
		"Configured [alerts].snapshot_stale_intervals: ImpermanenceSnapshotsStale past this many schedule intervals (0 disables).")
	alertArchiveGraceDesc = desc("alert_archive_grace_seconds",
		"Configured [alerts].archive_grace: ImpermanenceArchivesGrowing for archives this long past keep_days.")
	alertSnapshotSlowDesc = desc("alert_snapshot_slow_seconds",
		"Configured [alerts].snapshot_slow: ImpermanenceSnapshotSlow above it (0 disables).")
	alertRollbackSlowDesc = desc("alert_rollback_slow_seconds",
		"Configured [alerts].rollback_slow: ImpermanenceRollbackSlow above it (0 disables).")
)

var alertDescs = []*prometheus.Desc{alertFreeSpaceDesc, alertHorizonDesc, alertStaleDesc,
	alertArchiveGraceDesc, alertSnapshotSlowDesc, alertRollbackSlowDesc}

// alertThresholds exports a's thresholds. With an invalid configuration the
// caller passes the built-in defaults, so that the rules keep evaluating.
func alertThresholds(ch chan<- prometheus.Metric, a config.Alerts) {
	gauge(ch, alertFreeSpaceDesc, float64(a.FreeSpacePercent)/100)
	gauge(ch, alertHorizonDesc, a.SpaceExhaustionHorizon.Seconds())
	gauge(ch, alertStaleDesc, float64(a.SnapshotStaleIntervals))
	gauge(ch, alertArchiveGraceDesc, a.ArchiveGrace.Seconds())
	gauge(ch, alertSnapshotSlowDesc, a.SnapshotSlow.Seconds())
	gauge(ch, alertRollbackSlowDesc, a.RollbackSlow.Seconds())
}
