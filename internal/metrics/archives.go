package metrics

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/mountinfo"
)

var (
	archivesDesc     = desc("archives", "Archived previous states of the ephemeral subvolume in the archive dir.", "subvolume")
	archOldestDesc   = desc("archive_oldest_timestamp_seconds", "Time in the name of the oldest archive.", "subvolume")
	archNewestDesc   = desc("archive_newest_timestamp_seconds", "Time in the name of the newest archive.", "subvolume")
	errTopNotMounted = errors.New("only reachable through the top-level subvolume, which is not mounted (the exporter never mounts it)")
)

type archivesSource struct{}

func (archivesSource) name() string { return "archives" }

func (archivesSource) describe(ch chan<- *prometheus.Desc) {
	ch <- archivesDesc
	ch <- archOldestDesc
	ch <- archNewestDesc
}

// collect reads the archive names through a mount of this filesystem that
// exposes the archive dir: a top-level mount (subvolid=5) or a mount of the
// archive dir itself. Without one the source reports failure: archives are
// only reachable through the top level, and the exporter mounts nothing.
func (archivesSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	cfg, _ := s.config()
	ref, err := s.mountAt(config.SnapshotsMountpoint)
	if err != nil {
		if ref, err = s.mountAt("/"); err != nil {
			return fmt.Errorf("archives: no mount of the filesystem: %w", err)
		}
	}
	mounts, _ := s.mountTable()
	var errs []error
	for _, sv := range cfg.Ephemeral() {
		if !sv.Archive {
			continue
		}
		want := "/" + path.Join(cfg.Archive.Dir, sv.Name)
		dir, ok := reachable(mounts, ref.Dev, want)
		if !ok {
			errs = append(errs, fmt.Errorf("archives of %s in %s: %w", sv.Name, want, errTopNotMounted))
			continue
		}
		names, err := readNames(s.opts.Paths.host(dir))
		if err != nil {
			errs = append(errs, fmt.Errorf("archives of %s: %w", sv.Name, err))
			continue
		}
		sp := countArchives(names)
		gauge(ch, archivesDesc, float64(sp.n), sv.Name)
		if sp.n > 0 {
			gauge(ch, archOldestDesc, unixSeconds(sp.oldest), sv.Name)
			gauge(ch, archNewestDesc, unixSeconds(sp.newest), sv.Name)
		}
	}
	return errors.Join(errs...)
}

// reachable returns the host path of the filesystem path fsPath (relative
// to the top level, with a leading /) through a mount of device dev whose
// root is fsPath or one of its parents.
func reachable(mounts []mountinfo.Mount, dev, fsPath string) (string, bool) {
	for _, m := range mounts {
		if m.FSType != "btrfs" || m.Dev != dev || strings.HasSuffix(m.Root, "//deleted") {
			continue
		}
		if m.Root == "/" {
			return filepath.Join(m.Mountpoint, fsPath), true
		}
		if rest, ok := strings.CutPrefix(fsPath, m.Root); ok && (rest == "" || rest[0] == '/') {
			return filepath.Join(m.Mountpoint, rest), true
		}
	}
	return "", false
}
