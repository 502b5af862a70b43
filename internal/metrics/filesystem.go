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

// minUnallocated is the unallocated space below which btrfs-progs does not
// count it as free any more.
const minUnallocated = 16 << 20

var blockTypes = []string{"data", "metadata", "system"}

func (filesystemSource) collect(_ context.Context, s *scrape, ch chan<- prometheus.Metric) error {
	dir, err := s.filesystemDir()
	if err != nil {
		return err
	}
	r := &sysfs{dir: dir}
	var errs []error
	gauge(ch, fsInfoDesc, 1, filepath.Base(dir), r.str("label"))

	// Space.
	devs, err := os.ReadDir(filepath.Join(dir, "devices"))
	if err != nil {
		return fmt.Errorf("filesystem %s: %w", dir, err)
	}
	var size uint64
	for _, d := range devs {
		n := d.Name()
		sz := 512 * r.uint(filepath.Join("devices", n, "size"))
		size += sz
		gauge(ch, devSizeDesc, float64(sz), n)
		if st, err := blockStat(filepath.Join(dir, "devices", n, "stat")); err == nil {
			counter(ch, devReadsDesc, float64(st[0]), n)
			counter(ch, devReadBytesDesc, 512*float64(st[2]), n)
			counter(ch, devWritesDesc, float64(st[4]), n)
			counter(ch, devWriteBytesDesc, 512*float64(st[6]), n)
		} else {
			errs = append(errs, err)
		}
	}
	var allocated, used, dataTotal, dataDiskTotal, dataDiskUsed uint64
	for _, typ := range blockTypes {
		base := filepath.Join("allocation", typ)
		total := r.uint(filepath.Join(base, "total_bytes"))
		diskTotal := r.uint(filepath.Join(base, "disk_total"))
		diskUsed := r.uint(filepath.Join(base, "disk_used"))
		allocated += diskTotal
		used += diskUsed
		if typ == "data" {
			dataTotal, dataDiskTotal, dataDiskUsed = total, diskTotal, diskUsed
		}
		entries, _ := os.ReadDir(filepath.Join(dir, base))
		for _, e := range entries {
			p := filepath.Join(base, e.Name())
			if !e.IsDir() {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, p, "total_bytes")); err != nil {
				continue
			}
			gauge(ch, fsAllocTotalDesc, float64(r.uint(filepath.Join(p, "total_bytes"))), typ, e.Name())
			gauge(ch, fsAllocUsedDesc, float64(r.uint(filepath.Join(p, "used_bytes"))), typ, e.Name())
		}
	}
	reserve := r.uint("allocation/global_rsv_size")
	if r.err == nil {
		unalloc := size - min(size, allocated)
		// btrfs-progs (cmds/filesystem-usage.c) uses the data ratio for
		// the unallocated space too.
		ratio := 1.0
		if dataTotal > 0 {
			ratio = float64(dataDiskTotal) / float64(dataTotal)
		}
		free := float64(dataDiskTotal-min(dataDiskTotal, dataDiskUsed)) / ratio
		if unalloc >= minUnallocated {
			free += float64(unalloc) / ratio
		}
		gauge(ch, fsSizeDesc, float64(size))
		gauge(ch, fsUsedDesc, float64(used))
		gauge(ch, fsFreeDesc, float64(uint64(free)))
		gauge(ch, fsUnallocDesc, float64(unalloc))
		gauge(ch, fsReserveDesc, float64(reserve))
	} else {
		errs = append(errs, r.err)
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

// sysfs reads values below dir and keeps the first error.
type sysfs struct {
	dir string
	err error
}

func (r *sysfs) str(name string) string {
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (r *sysfs) uint(name string) uint64 {
	if r.err != nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		r.err = err
		return 0
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", filepath.Join(r.dir, name), err)
	}
	return v
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
