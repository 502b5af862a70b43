package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/server-impermanence/server-impermanence/internal/names"
)

// BenchTree builds a host tree with n snapshots spread over subvols
// subvolumes (on top of the fixture's sysfs, mountinfo and state) and
// returns its root.
func benchTree(b testing.TB, dir string, subvols, n int) string {
	b.Helper()
	if err := os.CopyFS(dir, os.DirFS("testdata/host")); err != nil {
		b.Fatal(err)
	}
	var cfg strings.Builder
	cfg.WriteString("device = \"/dev/disk/by-label/server\"\n[[subvolume]]\nname = \"@root\"\nmountpoint = \"/\"\nclass = \"ephemeral\"\nblank = \"@root-blank\"\narchive = true\n")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range subvols {
		name := fmt.Sprintf("@sv%02d", i)
		fmt.Fprintf(&cfg, "[[subvolume]]\nname = %q\nmountpoint = \"/srv/%s\"\nclass = \"permanent\"\nsnapshot = true\n", name, name)
		for j := i; j < n; j += subvols {
			if err := os.MkdirAll(filepath.Join(dir, ".snapshots", name, t0.Add(time.Duration(j)*time.Hour).Format(names.TimeLayout)), 0o755); err != nil {
				b.Fatal(err)
			}
		}
	}
	cfg.WriteString("[snapshots]\nschedule = \"hourly\"\n")
	if err := os.WriteFile(filepath.Join(dir, "etc/server-impermanence/config.toml"), []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkScrape: one full gather (every collector but systemd) over 5,000
// snapshots in 12 subvolumes. Target: ≤ 50 ms.
func BenchmarkScrape(b *testing.B) {
	root := benchTree(b, b.TempDir(), 12, 5000)
	reg := NewRegistry(Options{Paths: PathsAt(root)})
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, mf := range mfs {
		if mf.GetName() == "impermanence_snapshots" {
			for _, m := range mf.GetMetric() {
				total += int(m.GetGauge().GetValue())
			}
		}
	}
	if total != 5000 {
		b.Fatalf("counted %d snapshots, want 5000", total)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
}

var _ prometheus.Gatherer = (*prometheus.Registry)(nil)
