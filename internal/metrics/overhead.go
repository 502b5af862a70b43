package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/server-impermanence/server-impermanence/internal/overhead"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

var (
	overheadRatioDesc = desc("overhead_ratio",
		"Storage overhead of the subvolume: bytes on disk only its snapshots and archives hold, over the bytes on disk of the live subvolume (+Inf when only they hold data).",
		"subvolume")
	overheadBytesDesc = desc("overhead_exclusive_bytes",
		"Bytes on disk only the subvolume's snapshots and archives hold (what deleting them all would free).", "subvolume")
	overheadBudgetDesc = desc("overhead_budget_ratio",
		"Configured [maintenance].overhead_budget as a ratio (0.15 for 15 %); ImpermanenceOverheadOverBudget fires above it.")
	overheadTimeDesc = desc("overhead_measured_timestamp_seconds",
		"When impermanence-maintain last measured the storage overhead.")
	overheadHeldDesc = desc("overhead_holders",
		"Snapshots and archives of the subvolume at the last measurement, by kind (snapshot, archive).", "subvolume", "kind")
	liveBytesDesc = desc("subvolume_live_bytes",
		"Bytes on disk of the live subvolume's data extents (compsize's Disk Usage; metadata not included).", "subvolume")
	liveUncompDesc = desc("subvolume_uncompressed_bytes",
		"Uncompressed size of the live subvolume's data extents (compsize's Uncompressed).", "subvolume")
	compressionDesc = desc("subvolume_compression_ratio",
		"Uncompressed over on-disk bytes of the live subvolume's data (2 when compression halves it; 1 when empty).", "subvolume")
)

// overheadSource serves the storage overhead that impermanence-maintain
// measured (it walks every subvolume tree, too slow for a scrape) and the
// configured budget. Without a record (no maintenance run yet) there is
// nothing to serve, which is no failure.
type overheadSource struct{}

func (overheadSource) name() string { return "overhead" }

func (overheadSource) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{overheadRatioDesc, overheadBytesDesc, overheadBudgetDesc, overheadTimeDesc,
		overheadHeldDesc, liveBytesDesc, liveUncompDesc, compressionDesc} {
		ch <- d
	}
}

func (overheadSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	cfg, _ := s.config() // the default budget when invalid; config_valid says so
	gauge(ch, overheadBudgetDesc, float64(cfg.Maintenance.OverheadBudget)/100)
	rec, err := state.Read(s.opts.Paths.StateDir, overhead.Job)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var o overhead.Record
	if len(rec.Details) == 0 {
		return nil
	}
	if err := json.Unmarshal(rec.Details, &o); err != nil {
		return fmt.Errorf("overhead record: %w", err)
	}
	if o.MeasuredAt.IsZero() {
		return nil // never measured successfully
	}
	gauge(ch, overheadTimeDesc, unixSeconds(o.MeasuredAt))
	for _, sv := range o.Subvolumes {
		gauge(ch, overheadRatioDesc, sv.Ratio(), sv.Name)
		gauge(ch, overheadBytesDesc, float64(sv.Exclusive), sv.Name)
		gauge(ch, overheadHeldDesc, float64(sv.Snapshots), sv.Name, "snapshot")
		gauge(ch, overheadHeldDesc, float64(sv.Archives), sv.Name, "archive")
		gauge(ch, liveBytesDesc, float64(sv.Live.Disk), sv.Name)
		gauge(ch, liveUncompDesc, float64(sv.Live.Uncompressed), sv.Name)
		gauge(ch, compressionDesc, sv.CompressionRatio(), sv.Name)
	}
	return nil
}
