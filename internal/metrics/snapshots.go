package metrics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/server-impermanence/server-impermanence/internal/config"
)

var (
	snapshotsDesc = desc("snapshots",
		"Snapshots of the subvolume under /.snapshots, by kind: timeline (scheduled) or manual (labelled, never pruned by the timeline).",
		"subvolume", "kind")
	snapNewestDesc = desc("snapshot_newest_timestamp_seconds", "Time in the name of the newest snapshot, by kind.", "subvolume", "kind")
	snapOldestDesc = desc("snapshot_oldest_timestamp_seconds", "Time in the name of the oldest snapshot, by kind.", "subvolume", "kind")
	snapOtherDesc  = desc("snapshot_unrecognized_entries",
		"Entries in the subvolume's snapshot directory whose names do not follow <YYYYMMDDTHHMMSSZ>[-<label>].", "subvolume")
)

type snapshotsSource struct{}

func (snapshotsSource) name() string { return "snapshots" }

func (snapshotsSource) describe(ch chan<- *prometheus.Desc) {
	ch <- snapshotsDesc
	ch <- snapNewestDesc
	ch <- snapOldestDesc
	ch <- snapOtherDesc
}

func (snapshotsSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	cfg, _ := s.config() // the default layout when invalid; config_valid says so
	if _, err := s.mountAt(config.SnapshotsMountpoint); err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	var errs []error
	for _, sv := range cfg.Subvolumes {
		if !sv.Snapshot {
			continue
		}
		dir := filepath.Join(s.opts.Paths.host(config.SnapshotsMountpoint), sv.Name)
		names, err := readNames(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("snapshots of %s: %w", sv.Name, err))
			continue
		}
		timeline, manual, other := countSnapshots(names)
		for _, k := range []struct {
			kind string
			sp   span
		}{{"manual", manual}, {"timeline", timeline}} {
			gauge(ch, snapshotsDesc, float64(k.sp.n), sv.Name, k.kind)
			if k.sp.n > 0 {
				gauge(ch, snapNewestDesc, unixSeconds(k.sp.newest), sv.Name, k.kind)
				gauge(ch, snapOldestDesc, unixSeconds(k.sp.oldest), sv.Name, k.kind)
			}
		}
		gauge(ch, snapOtherDesc, float64(other), sv.Name)
	}
	return errors.Join(errs...)
}

// readNames lists dir without a stat per entry; a missing dir is empty.
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
