package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// The target metrics of a configured target from its record; a record of
// a target the configuration no longer has is not served, and a target
// never sent to has only its max age.
func TestTargetMetrics(t *testing.T) {
	root := t.TempDir()
	p := PathsAt(root)
	os.MkdirAll(filepath.Dir(p.Config), 0o755)
	cfg := string(config.DefaultTOML()) + `
[[target]]
name = "usb"
url = "/mnt/usb"
subvolumes = ["@persist", "@var-log"]
[[target]]
name = "fresh"
url = "/mnt/fresh"
schedule = "weekly"
`
	os.WriteFile(p.Config, []byte(cfg), 0o644)
	ok := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	for _, r := range []targetstate.Record{
		{Target: "usb", SentBytes: 12345, Subvolumes: map[string]targetstate.Subvolume{
			"@persist": {Snapshots: []targetstate.Snapshot{{Name: "20261205T000000Z"}, {Name: "20261206T020000Z"}}, LastSuccess: ok},
			"@var-log": {Snapshots: []targetstate.Snapshot{}},
		}},
		{Target: "gone", SentBytes: 1},
	} {
		if err := targetstate.Write(p.StateDir, r); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{Paths: p, Now: func() time.Time { return ok.Add(time.Hour) }}
	want := `
# HELP impermanence_target_last_success_timestamp_seconds When the last send of the subvolume to the target completed (or found nothing to send).
# TYPE impermanence_target_last_success_timestamp_seconds gauge
impermanence_target_last_success_timestamp_seconds{subvolume="@persist",target="usb"} 1.796526e+09
# HELP impermanence_target_max_age_seconds Longest time allowed since the last successful send (the schedule's longest interval plus a day): ImpermanenceReplicationStale.
# TYPE impermanence_target_max_age_seconds gauge
impermanence_target_max_age_seconds{target="fresh"} 691200
impermanence_target_max_age_seconds{target="usb"} 172800
# HELP impermanence_target_newest_snapshot_timestamp_seconds Time in the name of the newest snapshot the target holds; time() minus this is the target's lag.
# TYPE impermanence_target_newest_snapshot_timestamp_seconds gauge
impermanence_target_newest_snapshot_timestamp_seconds{subvolume="@persist",target="usb"} 1.7965224e+09
# HELP impermanence_target_sent_bytes_total Bytes of send stream sent to the target.
# TYPE impermanence_target_sent_bytes_total counter
impermanence_target_sent_bytes_total{target="usb"} 12345
# HELP impermanence_target_snapshots Snapshots of the subvolume the target holds (received, read-only).
# TYPE impermanence_target_snapshots gauge
impermanence_target_snapshots{subvolume="@persist",target="usb"} 2
impermanence_target_snapshots{subvolume="@var-log",target="usb"} 0
`
	if err := testutil.CollectAndCompare(New(opts), strings.NewReader(want),
		"impermanence_target_last_success_timestamp_seconds", "impermanence_target_max_age_seconds",
		"impermanence_target_newest_snapshot_timestamp_seconds", "impermanence_target_sent_bytes_total",
		"impermanence_target_snapshots"); err != nil {
		t.Error(err)
	}
}
