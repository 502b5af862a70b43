package metrics

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/server-impermanence/server-impermanence/internal/names/namestest"
	"github.com/server-impermanence/server-impermanence/internal/textfile"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var fixtureNow = time.Date(2026, 1, 1, 3, 30, 0, 0, time.UTC)

// fakeUnits is a UnitSource over a fixed table, keyed "unit/iface".
type fakeUnits map[string]map[string]any

func (f fakeUnits) Properties(_ context.Context, unit, iface string) (map[string]any, error) {
	if p, ok := f[unit+"/"+iface]; ok {
		return p, nil
	}
	if iface == "Unit" {
		return map[string]any{"LoadState": "not-found", "ActiveState": "inactive"}, nil
	}
	return nil, errors.New("org.freedesktop.DBus.Properties.Error.InterfaceNotFound")
}

func fixtureUnits() fakeUnits {
	return fakeUnits{
		"server-snapshots.service/Unit":     {"LoadState": "loaded", "ActiveState": "inactive"},
		"server-snapshots.service/Service":  {"Result": "success", "ExecMainStatus": int32(0)},
		"btrfs-maintenance.service/Unit":    {"LoadState": "loaded", "ActiveState": "failed"},
		"btrfs-maintenance.service/Service": {"Result": "exit-code", "ExecMainStatus": int32(3)},
		"server-snapshots.timer/Unit":       {"LoadState": "loaded", "ActiveState": "active"},
		"server-snapshots.timer/Timer": {"Result": "success", "LastTriggerUSec": uint64(1767236400000000),
			"NextElapseUSecRealtime": uint64(1767240000000000)},
	}
}

func fixtureOptions(t testing.TB) Options {
	t.Helper()
	root, err := filepath.Abs("testdata/host")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Paths: PathsAt(root), Now: func() time.Time { return fixtureNow }, Version: "v1.2.3"}
}

// encodeStable gathers g as text, the whole exposition a scrape serves
// (every family, HELP, TYPE, labels and values), with the two things that
// vary made fixed: the values of impermanence_collector_duration_seconds
// are zeroed (its collector labels stay) and the Go version is GOVERSION.
func encodeStable(t *testing.T, g prometheus.Gatherer) []byte {
	t.Helper()
	b, err := textfile.Encode(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := g.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "impermanence_collector_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				m.Gauge.Value = new(float64)
			}
		}
		return mfs, err
	}))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte(runtime.Version()), []byte("GOVERSION"))
}

// goldenDiff compares the whole of got with the golden file's bytes, line
// by line; "" when they are the same.
func goldenDiff(want, got []byte) string {
	return cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n"))
}

// checkGolden compares the collector's whole output with
// testdata/<name>.prom (-update rewrites it), and lints it.
func checkGolden(t *testing.T, name string, opts Options) {
	t.Helper()
	reg := NewRegistry(opts)
	golden := filepath.Join("testdata", name+".prom")
	got := encodeStable(t, reg)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := goldenDiff(want, got); diff != "" {
		t.Errorf("%s (-want +got; run go test -update to accept):\n%s", golden, diff)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

// TestGoldenIsWhole: the golden comparison sees every part of the output,
// not only the families the golden file names: a family the golden lacks,
// a HELP text, a label and a value that differ each fail it.
func TestGoldenIsWhole(t *testing.T) {
	opts := fixtureOptions(t)
	opts.Systemd = fixtureUnits()
	got := encodeStable(t, NewRegistry(opts))
	want, err := os.ReadFile(filepath.Join("testdata", "host.prom"))
	if err != nil {
		t.Fatal(err)
	}
	if d := goldenDiff(want, got); d != "" {
		t.Fatalf("host.prom differs already:\n%s", d)
	}
	lines := strings.Split(string(want), "\n")
	first := func(prefix string) int {
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return i
			}
		}
		t.Fatalf("host.prom has no line starting %q", prefix)
		return -1
	}
	edit := func(f func([]string) []string) []byte {
		return []byte(strings.Join(f(slices.Clone(lines)), "\n"))
	}
	for _, tc := range []struct {
		name   string
		golden []byte
	}{
		{"a family the golden lacks", edit(func(ls []string) []string {
			i := first("# HELP impermanence_build_info ")
			return slices.Delete(ls, i, i+3)
		})},
		{"another HELP", edit(func(ls []string) []string {
			i := first("# HELP impermanence_build_info ")
			ls[i] += " (old)"
			return ls
		})},
		{"another label", edit(func(ls []string) []string {
			i := first("impermanence_build_info{")
			ls[i] = strings.Replace(ls[i], `version="v1.2.3"`, `version="v1.2.2"`, 1)
			return ls
		})},
		{"another value", edit(func(ls []string) []string {
			i := first("impermanence_archive_keep_min ")
			ls[i] = "impermanence_archive_keep_min 4"
			return ls
		})},
		{"a collector's duration sample missing", edit(func(ls []string) []string {
			i := first("impermanence_collector_duration_seconds{")
			return slices.Delete(ls, i, i+1)
		})},
	} {
		if goldenDiff(tc.golden, got) == "" {
			t.Errorf("%s: the golden comparison passed", tc.name)
		}
	}
}

func TestGoldenHost(t *testing.T) {
	opts := fixtureOptions(t)
	opts.Systemd = fixtureUnits()
	checkGolden(t, "host", opts)
}

func TestGoldenTopLevelNotMounted(t *testing.T) {
	opts := fixtureOptions(t)
	opts.Paths.Mountinfo = "testdata/mountinfo-no-top"
	checkGolden(t, "no-top", opts)
}

// TestGoldenBrokenSources: each failing source reports success 0 and the
// others are still served.
func TestGoldenBrokenSources(t *testing.T) {
	opts := fixtureOptions(t)
	opts.Paths.Sysfs = filepath.Join(t.TempDir(), "nosys")
	opts.Paths.Mountinfo = filepath.Join(t.TempDir(), "nomountinfo")
	opts.Paths.Config = filepath.Join(t.TempDir(), "config.toml")
	opts.Systemd = fakeUnits{}
	if err := os.WriteFile(opts.Paths.Config, []byte("mode = \"fast\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "broken", opts)
}

// TestOnError: every failing source's error reaches Options.OnError at
// every collection, not only when it starts failing (as the log says).
func TestOnError(t *testing.T) {
	opts := fixtureOptions(t)
	opts.Paths.Sysfs = filepath.Join(t.TempDir(), "nosys")
	opts.Paths.Mountinfo = filepath.Join(t.TempDir(), "nomountinfo")
	var got []string
	opts.OnError = func(c string, err error) { got = append(got, c) }
	reg := NewRegistry(opts)
	for range 2 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"snapshots", "filesystem", "snapshots", "filesystem"}; !slices.Equal(got, want) {
		t.Errorf("OnError got %v, want %v", got, want)
	}
}

// TestCountNames: the exporter counts the names of the edge-case table as
// internal/names parses them, as impermanence-snapshot, prune and the
// rollback do: a snapshot name with a label impermanence-snapshot refuses
// is an unrecognised entry. (Archives are counted by internal/inventory,
// whose TestTakeNames runs the same table.)
func TestCountNames(t *testing.T) {
	var entries []string
	var timeline, manual span
	other := 0
	for _, c := range namestest.Cases {
		if !c.Entry() {
			continue
		}
		entries = append(entries, c.Name)
		switch {
		case strings.HasPrefix(c.Name, "."):
		case !c.Snapshot:
			other++
		case c.Label == "":
			timeline.add(c.Time)
		default:
			manual.add(c.Time)
		}
	}
	tl, ma, ot := countSnapshots(entries)
	got := []any{tl, ma, ot}
	want := []any{timeline, manual, other}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(span{})); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	// The case the exporter's own parser got wrong: a label
	// impermanence-snapshot refuses.
	if _, ma, ot := countSnapshots([]string{"20260101T000000Z-a b", "20260101T000000Z-_x", "20260101T000000Z-ok"}); ma.n != 1 || ot != 2 {
		t.Errorf("countSnapshots(bad labels) = %d manual, %d other, want 1, 2", ma.n, ot)
	}
}

// TestScheduleInterval: the expected snapshot interval of each
// snapshotted subvolume exists for every schedule that repeats, not only
// the shorthands: the longest gap between two elapses of its own schedule
// (@var-log's, a policy's) or [snapshots]'s (@persist).
func TestScheduleInterval(t *testing.T) {
	cfg, err := os.ReadFile("testdata/host/etc/server-impermanence/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	const head = "# HELP impermanence_snapshot_schedule_interval_seconds Longest time between two consecutive elapses of the subvolume's snapshot schedule (its own, its policy's or [snapshots]'s; absent when it does not repeat).\n" +
		"# TYPE impermanence_snapshot_schedule_interval_seconds gauge\n"
	const varLog = `impermanence_snapshot_schedule_interval_seconds{subvolume="@var-log"} 86400` + "\n"
	for _, tc := range []struct{ schedule, varLog, want string }{
		{"hourly", "", head + `impermanence_snapshot_schedule_interval_seconds{subvolume="@persist"} 3600` + "\n" +
			`impermanence_snapshot_schedule_interval_seconds{subvolume="@var-log"} 3600` + "\n"},
		{"*:0/15", `schedule = "daily"`, head + `impermanence_snapshot_schedule_interval_seconds{subvolume="@persist"} 900` + "\n" + varLog},
		{"Mon..Fri 02:00", `policy = "logs"`, head + `impermanence_snapshot_schedule_interval_seconds{subvolume="@persist"} 259200` + "\n" + varLog},
		{"monthly", `schedule = "daily"`, head + `impermanence_snapshot_schedule_interval_seconds{subvolume="@persist"} 2.6784e+06` + "\n" + varLog},
		{"*-02-29 03:00", `schedule = "daily"`, head + `impermanence_snapshot_schedule_interval_seconds{subvolume="@persist"} 2.523744e+08` + "\n" + varLog},
		{"2020-01-01", `schedule = "daily"`, head + varLog},
		{"2020-01-01", "", ""},
	} {
		opts := fixtureOptions(t)
		opts.Paths.Config = filepath.Join(t.TempDir(), "config.toml")
		body := strings.Replace(string(cfg), `schedule = "hourly"`, "schedule = '"+tc.schedule+"'", 1)
		body = strings.Replace(body, "mountpoint  = \"/var/log\"\n", "mountpoint  = \"/var/log\"\n"+tc.varLog+"\n", 1)
		body += "\n[policy.logs]\nschedule = \"daily\"\n"
		if err := os.WriteFile(opts.Paths.Config, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := testutil.CollectAndCompare(New(opts), strings.NewReader(tc.want), "impermanence_snapshot_schedule_interval_seconds"); err != nil {
			t.Errorf("schedule %q, @var-log %q: %v", tc.schedule, tc.varLog, err)
		}
	}
}

// TestTargetUnits: each [[target]]'s send@ service and timer are among the
// units whose health is exported, so a failing target has an
// impermanence_unit_result of its own.
func TestTargetUnits(t *testing.T) {
	cfg, err := os.ReadFile("testdata/host/etc/server-impermanence/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	opts := fixtureOptions(t)
	opts.Paths.Config = filepath.Join(t.TempDir(), "config.toml")
	body := string(cfg) + "\n[[target]]\nname = \"usb\"\nurl = \"/mnt/usb\"\n\n[[target]]\nname = \"nas\"\nurl = \"/mnt/nas\"\n"
	if err := os.WriteFile(opts.Paths.Config, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	units := fakeUnits{
		"server-impermanence-send@usb.service/Unit":    {"LoadState": "loaded", "ActiveState": "failed"},
		"server-impermanence-send@usb.service/Service": {"Result": "exit-code", "ExecMainStatus": int32(1)},
		"server-impermanence-send@nas.service/Unit":    {"LoadState": "loaded", "ActiveState": "inactive"},
		"server-impermanence-send@nas.service/Service": {"Result": "success", "ExecMainStatus": int32(0)},
	}
	opts.Systemd = units
	const want = `# HELP impermanence_unit_result The unit's Result (success, exit-code, signal, timeout, ...), always 1.
# TYPE impermanence_unit_result gauge
impermanence_unit_result{result="exit-code",unit="server-impermanence-send@usb.service"} 1
impermanence_unit_result{result="success",unit="server-impermanence-send@nas.service"} 1
`
	if err := testutil.CollectAndCompare(New(opts), strings.NewReader(want), "impermanence_unit_result"); err != nil {
		t.Error(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(opts))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "impermanence_unit_loaded" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "unit" {
					seen[l.GetValue()] = true
				}
			}
		}
	}
	for _, u := range []string{"server-impermanence-send@usb.timer", "server-impermanence-send@nas.timer"} {
		if !seen[u] {
			t.Errorf("impermanence_unit_loaded has no series for %s", u)
		}
	}
}
