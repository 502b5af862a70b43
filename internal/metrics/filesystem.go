package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

var (
	fsInfoDesc        = desc("filesystem_info", "The btrfs filesystem of the suite, always 1.", "fsid", "label")
	fsSizeDesc        = desc("filesystem_size_bytes", "Sum of the sizes of the member devices.")
	fsUsedDesc        = desc("filesystem_used_bytes", "Raw bytes used, every copy counted.")
	fsFreeDesc        = desc("filesystem_free_bytes", "Data bytes still writable, as \"Free (estimated)\" of btrfs filesystem usage.")
	fsUnallocDesc     = desc("filesystem_unallocated_bytes", "Raw device bytes not allocated to any chunk.")
	fsReserveDesc     = desc("filesystem_global_reserve_bytes", "Size of the global block reserve.")
	fsAllocTotalDesc  = desc("filesystem_allocation_total_bytes", "Logical bytes in chunks of the block group type and profile.", "type", "profile")
	fsAllocUsedDesc   = desc("filesystem_allocation_used_bytes", "Logical bytes used in chunks of the block group type and profile.", "type", "profile")
	fsCommitsDesc     = desc("filesystem_commits_total", "Transaction commits since mount (sysfs commit_stats).")
	fsCommitLastDesc  = desc("filesystem_commit_last_duration_seconds", "Duration of the last transaction commit.")
	fsCommitMaxDesc   = desc("filesystem_commit_max_duration_seconds", "Longest transaction commit since mount (or since the counter was reset).")
	fsCommitTotalDesc = desc("filesystem_commit_duration_seconds_total", "Time spent in transaction commits since mount.")
	devErrorsDesc     = desc("device_errors_total", "Persistent error counters of the member device (btrfs device stats), by type.", "devid", "type")
	devSizeDesc       = desc("device_size_bytes", "Size of the member device.", "device")
	devReadBytesDesc  = desc("device_read_bytes_total", "Bytes read from the member device.", "device")
	devWriteBytesDesc = desc("device_written_bytes_total", "Bytes written to the member device.", "device")
	devReadsDesc      = desc("device_reads_total", "Read operations completed on the member device.", "device")
	devWritesDesc     = desc("device_writes_total", "Write operations completed on the member device.", "device")
)

type filesystemSource struct{}

func (filesystemSource) name() string { return "filesystem" }

func (filesystemSource) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{fsInfoDesc, fsSizeDesc, fsUsedDesc, fsFreeDesc, fsUnallocDesc, fsReserveDesc,
		fsAllocTotalDesc, fsAllocUsedDesc, fsCommitsDesc, fsCommitLastDesc, fsCommitMaxDesc, fsCommitTotalDesc,
		devErrorsDesc, devSizeDesc, devReadBytesDesc, devWriteBytesDesc, devReadsDesc, devWritesDesc} {
		ch <- d
	}
}

func (filesystemSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	dir, err := s.filesystemDir()
	if err != nil {
		return err
	}
	var errs []error
	gauge(ch, fsInfoDesc, 1, filepath.Base(dir), sysfsString(filepath.Join(dir, "label")))

	// Space: the reader of the helpers' space guard, so that the metrics
	// and the guard never disagree.
	if u, err := btrfs.ReadUsage(dir); err == nil {
		for _, d := range u.Devices {
			gauge(ch, devSizeDesc, float64(d.Size), d.Name)
		}
		for _, a := range []struct {
			typ string
			btrfs.Allocation
		}{{"data", u.Data}, {"metadata", u.Metadata}, {"system", u.System}} {
			for _, p := range a.Profiles {
				gauge(ch, fsAllocTotalDesc, float64(p.Total), a.typ, p.Name)
				gauge(ch, fsAllocUsedDesc, float64(p.Used), a.typ, p.Name)
			}
		}
		gauge(ch, fsSizeDesc, float64(u.Size))
		gauge(ch, fsUsedDesc, float64(u.Used))
		gauge(ch, fsFreeDesc, float64(u.FreeEstimate))
		gauge(ch, fsUnallocDesc, float64(u.Unallocated))
		gauge(ch, fsReserveDesc, float64(u.GlobalReserve))
	} else {
		errs = append(errs, fmt.Errorf("space usage: %w", err))
	}

	// Device I/O counters.
	devs, err := os.ReadDir(filepath.Join(dir, "devices"))
	if err != nil {
		errs = append(errs, err)
	}
	for _, d := range devs {
		n := d.Name()
		if st, err := blockStat(filepath.Join(dir, "devices", n, "stat")); err == nil {
			counter(ch, devReadsDesc, float64(st[0]), n)
			counter(ch, devReadBytesDesc, 512*float64(st[2]), n)
			counter(ch, devWritesDesc, float64(st[4]), n)
			counter(ch, devWriteBytesDesc, 512*float64(st[6]), n)
		} else {
			errs = append(errs, err)
		}
	}

	// Commits (kernel >= 6.0).
	if cs, err := keyValues(filepath.Join(dir, "commit_stats")); err == nil {
		counter(ch, fsCommitsDesc, float64(cs["commits"]))
		gauge(ch, fsCommitLastDesc, float64(cs["last_commit_ms"])/1000)
		gauge(ch, fsCommitMaxDesc, float64(cs["max_commit_ms"])/1000)
		counter(ch, fsCommitTotalDesc, float64(cs["total_commit_ms"])/1000)
	} else {
		errs = append(errs, err)
	}

	// Device error counters (kernel >= 5.14), the same as GET_DEV_STATS.
	infos, err := os.ReadDir(filepath.Join(dir, "devinfo"))
	if err != nil {
		errs = append(errs, err)
	}
	ids := make([]string, 0, len(infos))
	for _, e := range infos {
		ids = append(ids, e.Name())
	}
	slices.SortFunc(ids, func(a, b string) int { // numerically: 2 before 10
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	for _, id := range ids {
		es, err := keyValues(filepath.Join(dir, "devinfo", id, "error_stats"))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, k := range sortedKeys(es) {
			counter(ch, devErrorsDesc, float64(es[k]), id, strings.TrimSuffix(k, "_errs"))
		}
	}
	return errors.Join(errs...)
}

// sysfsString reads a one-line sysfs file ("" when it cannot be read).
func sysfsString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// keyValues parses "name value" lines (commit_stats, error_stats).
func keyValues(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("%s: malformed line %q", path, line)
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		m[f[0]] = v
	}
	return m, nil
}

// blockStat parses /sys/block/<dev>/stat (Documentation/block/stat.rst):
// reads, read merges, read sectors, read ticks, writes, write merges, write
// sectors, ...
func blockStat(path string) ([]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
	if len(f) < 7 {
		return nil, fmt.Errorf("%s: %d fields, want at least 7", path, len(f))
	}
	out := make([]uint64, 7)
	for i := range out {
		if out[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return out, nil
}
