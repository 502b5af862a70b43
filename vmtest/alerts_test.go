package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// capture reads a capture of the stock scenario kept in testdata.
func capture(t *testing.T, dir string) ([]scrapeTarget, time.Time) {
	t.Helper()
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var when float64
	if _, err := fmt.Sscan(string(read("time")), &when); err != nil {
		t.Fatal(err)
	}
	return []scrapeTarget{
		{job: "impermanence", instance: "127.0.0.1:9857", text: read("metrics.txt")},
		{job: "node", instance: "127.0.0.1:9100", text: read("textfile.prom")},
	}, time.Unix(0, int64(when*1e9))
}

func TestMaxFor(t *testing.T) {
	for _, c := range []struct {
		rules string
		want  time.Duration
	}{
		{"groups: []\n", 0},
		{"      - alert: A\n        for: 15m\n      - alert: B\n        for: 1h\n      - alert: C\n        for: 5m\n", time.Hour},
		{"        for: 1d\n", 24 * time.Hour},
		{"        for: 90s\n        for: 1m30s\n", 90 * time.Second},
	} {
		got, err := maxFor([]byte(c.rules))
		if err != nil || got != c.want {
			t.Errorf("maxFor(%q) = %v, %v; want %v", c.rules, got, err, c.want)
		}
	}
	if _, err := maxFor([]byte("        for: soon\n")); err == nil {
		t.Errorf("maxFor accepted for: soon")
	}
}

// TestAlertRulesTestGolden pins the generated file for a real capture of
// the stock scenario (Debian 13): the target labels beside job_name, the
// timestamps shifted to the evaluation time, the series held past the
// longest for:, up per target.
func TestAlertRulesTestGolden(t *testing.T) {
	targets, when := capture(t, "testdata/stock-trixie/broken")
	got, err := alertRulesTest("rules.yml", 30*time.Minute, targets, when, map[string]int{"SnapshotFailed": 2, "CollectorFailing": 3})
	if err != nil {
		t.Fatal(err)
	}
	golden := "testdata/alerts/stock-trixie-broken.test.yml"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("generated test (-want +got):\n%s", diff)
	}
}

// TestAlertRulesTestPromtool runs promtool on the generated files, with the
// rules of testdata/alerts/rules.yml, on the captures of the stock scenario
// (Debian 13, before the archive and systemd collectors worked there: three
// failing collectors). The right expectation passes and a wrong one fails.
func TestAlertRulesTestPromtool(t *testing.T) {
	promtool := lookTool(t, "promtool")
	rules, err := filepath.Abs("testdata/alerts/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dir string
		later     time.Duration // evaluated this long after the capture
		want      map[string]int
		pass      bool
	}{
		{"healthy", "healthy", 0, map[string]int{"CollectorFailing": 3}, true},
		{"healthy, expecting nothing", "healthy", 0, nil, false},
		{"broken: the exporter and the textfile", "broken", 0, map[string]int{"CollectorFailing": 3, "SnapshotFailed": 2}, true},
		{"broken, expecting one", "broken", 0, map[string]int{"CollectorFailing": 3, "SnapshotFailed": 1}, false},
		// the last snapshot run about 51 min before the evaluation: not old
		{"healthy, 50m later", "healthy", 50 * time.Minute, map[string]int{"CollectorFailing": 3}, true},
		{"healthy, 2h later", "healthy", 2 * time.Hour, map[string]int{"CollectorFailing": 3, "SnapshotOld": 2}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			targets, when := capture(t, filepath.Join("testdata/stock-trixie", c.dir))
			test, err := alertRulesTest(rules, 30*time.Minute, targets, when.Add(c.later), c.want)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "test.yml")
			if err := os.WriteFile(f, test, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(promtool, "test", "rules", f).CombinedOutput()
			if (err == nil) != c.pass {
				t.Errorf("promtool test rules: %v, want pass=%v\n%s", err, c.pass, out)
			}
		})
	}
}

// lookTool finds a tool in PATH; without it the test skips, unless
// IMPERMANENCE_REQUIRE_TOOLS is set (make test sets it).
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("IMPERMANENCE_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s not found in PATH (make deps)", name)
		}
		t.Skipf("%s not found in PATH (make deps)", name)
	}
	return p
}
