package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/server-impermanence/server-impermanence/internal/inventory"
)

var (
	archivesDesc   = desc("archives", "Archived previous states of the ephemeral subvolume in the archive dir, at the archive inventory's time.", "subvolume")
	archOldestDesc = desc("archive_oldest_timestamp_seconds", "Time in the name of the oldest archive.", "subvolume")
	archNewestDesc = desc("archive_newest_timestamp_seconds", "Time in the name of the newest archive.", "subvolume")
	archInvDesc    = desc("archive_inventory_timestamp_seconds",
		"When the archive inventory was taken (by the rollback at boot or the cleanup: the jobs that mount the top level); its age is time() minus this.", "job_name")
)

// archivesSource reads the archive inventory (internal/inventory): the
// archive dir is only reachable through the top level, which neither a
// server nor the exporter mounts, so the rollback (in the run directory)
// and the cleanup (in the state directory) record what it holds after
// their work; the newer of the two is served. Without either (no rollback
// or cleanup yet) there is nothing to serve, which is no failure.
type archivesSource struct{}

func (archivesSource) name() string { return "archives" }

func (archivesSource) describe(ch chan<- *prometheus.Desc) {
	ch <- archivesDesc
	ch <- archOldestDesc
	ch <- archNewestDesc
	ch <- archInvDesc
}

func (archivesSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	inv, ok, err := inventory.Newest(s.opts.Paths.RunDir, s.opts.Paths.StateDir)
	if !ok {
		return err
	}
	gauge(ch, archInvDesc, unixSeconds(inv.Taken), inv.Job)
	for _, sv := range inv.Subvolumes {
		gauge(ch, archivesDesc, float64(sv.Count), sv.Name)
		if sv.Count > 0 {
			gauge(ch, archOldestDesc, unixSeconds(sv.Oldest), sv.Name)
			gauge(ch, archNewestDesc, unixSeconds(sv.Newest), sv.Name)
		}
	}
	return nil
}
