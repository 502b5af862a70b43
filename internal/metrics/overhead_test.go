package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestOverheadRecords: without a record only the budget is served; a
// failed run keeps serving the last measurement it carries; a damaged
// record fails the collector.
func TestOverheadRecords(t *testing.T) {
	const budget = `# HELP impermanence_overhead_budget_ratio Configured [maintenance].overhead_budget as a ratio (0.15 for 15 %); ImpermanenceOverheadOverBudget fires above it.
# TYPE impermanence_overhead_budget_ratio gauge
impermanence_overhead_budget_ratio 0.15
`
	const measured = `# HELP impermanence_overhead_ratio Storage overhead of the subvolume: bytes on disk only its snapshots and archives hold, over the bytes on disk of the live subvolume (+Inf when only they hold data).
# TYPE impermanence_overhead_ratio gauge
impermanence_overhead_ratio{subvolume="@persist"} 0.25
# HELP impermanence_overhead_measured_timestamp_seconds When impermanence-maintain last measured the storage overhead.
# TYPE impermanence_overhead_measured_timestamp_seconds gauge
impermanence_overhead_measured_timestamp_seconds 1.7672328e+09
`
	const success = `# HELP impermanence_collector_success 1 if the collector's source was read without error in this scrape, 0 if not (its other metrics may be missing or partial).
# TYPE impermanence_collector_success gauge
impermanence_collector_success{collector="overhead"} %s
`
	failedRun := `{"job": "overhead", "result": "failure", "error": "storage overhead: list subvolumes: tree search: interrupted system call",
  "details": {"subvolumes": [{"subvolume": "@persist", "live": {"disk_bytes": 4000}, "exclusive_bytes": 1000}],
    "budget_percent": 15, "measured_at": "2026-01-01T02:00:00Z", "error": "storage overhead: list subvolumes: tree search: interrupted system call"}}`
	neverMeasured := `{"job": "overhead", "result": "failure", "details": {"budget_percent": 15, "error": "storage overhead: boom"}}`
	for _, tc := range []struct {
		name, record string // "" for none
		want, ok     string
		names        []string
	}{
		{"no record", "", budget, "1", []string{"impermanence_overhead_budget_ratio", "impermanence_overhead_ratio", "impermanence_overhead_measured_timestamp_seconds"}},
		{"a failed run keeps the last measurement", failedRun, budget + measured, "1", []string{"impermanence_overhead_budget_ratio", "impermanence_overhead_ratio", "impermanence_overhead_measured_timestamp_seconds"}},
		{"never measured", neverMeasured, budget, "1", []string{"impermanence_overhead_budget_ratio", "impermanence_overhead_ratio", "impermanence_overhead_measured_timestamp_seconds"}},
		{"damaged", `{"job": "overhead", "details": {"subvolumes": 7}}`, budget, "0", []string{"impermanence_overhead_budget_ratio", "impermanence_overhead_ratio"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := fixtureOptions(t)
			opts.Paths.StateDir = t.TempDir()
			if tc.record != "" {
				if err := os.WriteFile(filepath.Join(opts.Paths.StateDir, "overhead.json"), []byte(tc.record), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := New(opts)
			c.sources = []source{overheadSource{}}
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want), tc.names...); err != nil {
				t.Error(err)
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(strings.Replace(success, "%s", tc.ok, 1)), "impermanence_collector_success"); err != nil {
				t.Error(err)
			}
		})
	}
}
