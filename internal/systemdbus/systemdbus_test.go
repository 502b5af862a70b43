package systemdbus

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/prop"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/server-impermanence/server-impermanence/internal/metrics"
)

// privateBus starts dbus-daemon --session on a socket in a temp dir and
// returns its address.
func privateBus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Fatalf("dbus-daemon not installed (make deps installs the dbus package): %v", err)
	}
	sock := filepath.Join(t.TempDir(), "bus.sock")
	addr := "unix:path=" + sock
	cmd := exec.Command(bin, "--session", "--nofork", "--nopidfile", "--address="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("dbus-daemon did not create its socket")
	return ""
}

// fakeSystemd exports units as org.freedesktop.systemd1 objects: for each
// unit, interface name → properties.
func fakeSystemd(t *testing.T, addr string, units map[string]map[string]map[string]any) {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("request name: %v %v", reply, err)
	}
	for unit, ifaces := range units {
		path := dbus.ObjectPath("/org/freedesktop/systemd1/unit/" + sddbus.PathBusEscape(unit))
		m := prop.Map{}
		for iface, props := range ifaces {
			pm := map[string]*prop.Prop{}
			for k, v := range props {
				pm[k] = &prop.Prop{Value: v, Emit: prop.EmitFalse}
			}
			m["org.freedesktop.systemd1."+iface] = pm
		}
		if _, err := prop.Export(conn, path, m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPropertiesFromFakeSystemd(t *testing.T) {
	addr := privateBus(t)
	fakeSystemd(t, addr, map[string]map[string]map[string]any{
		"server-snapshots.service": {
			"Unit":    {"LoadState": "loaded", "ActiveState": "failed"},
			"Service": {"Result": "exit-code", "ExecMainStatus": int32(3), "ExecMainCode": int32(1)},
		},
		"server-snapshots.timer": {
			"Unit":  {"LoadState": "loaded", "ActiveState": "active"},
			"Timer": {"Result": "success", "LastTriggerUSec": uint64(1795600000000000), "NextElapseUSecRealtime": uint64(1795603600000000)},
		},
	})
	c := NewAddress(addr)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u, err := c.Properties(ctx, "server-snapshots.service", "Unit")
	if err != nil {
		t.Fatal(err)
	}
	if u["ActiveState"] != "failed" || u["LoadState"] != "loaded" {
		t.Errorf("Unit properties = %v, want ActiveState failed, LoadState loaded", u)
	}
	s, err := c.Properties(ctx, "server-snapshots.service", "Service")
	if err != nil {
		t.Fatal(err)
	}
	if s["Result"] != "exit-code" || s["ExecMainStatus"] != int32(3) {
		t.Errorf("Service properties = %v, want Result exit-code, ExecMainStatus int32(3)", s)
	}
	tm, err := c.Properties(ctx, "server-snapshots.timer", "Timer")
	if err != nil {
		t.Fatal(err)
	}
	if tm["LastTriggerUSec"] != uint64(1795600000000000) || tm["NextElapseUSecRealtime"] != uint64(1795603600000000) {
		t.Errorf("Timer properties = %v", tm)
	}
	// A unit systemd does not have: an error, and the client stays usable.
	if _, err := c.Properties(ctx, "missing.service", "Service"); err == nil {
		t.Error("properties of a missing unit: nil error")
	}
	if _, err := c.Properties(ctx, "server-snapshots.timer", "Unit"); err != nil {
		t.Errorf("after an error: %v", err)
	}
}

func TestNoBus(t *testing.T) {
	c := NewAddress("unix:path=" + filepath.Join(t.TempDir(), "none"))
	if _, err := c.Properties(context.Background(), "x.service", "Unit"); err == nil {
		t.Error("Properties without a bus: nil error")
	}
}

// TestCollectorOverDBus runs the exporter's systemd collector through this
// client against the fake systemd.
func TestCollectorOverDBus(t *testing.T) {
	addr := privateBus(t)
	fakeSystemd(t, addr, map[string]map[string]map[string]any{
		"btrfs-maintenance.service": {
			"Unit":    {"LoadState": "loaded", "ActiveState": "failed"},
			"Service": {"Result": "exit-code", "ExecMainStatus": int32(3)},
		},
		"btrfs-maintenance.timer": {
			"Unit":  {"LoadState": "loaded", "ActiveState": "active"},
			"Timer": {"Result": "success", "LastTriggerUSec": uint64(1767225600000000), "NextElapseUSecRealtime": uint64(1767830400000000)},
		},
	})
	c := NewAddress(addr)
	defer c.Close()
	reg := metrics.NewRegistry(metrics.Options{Paths: metrics.PathsAt(t.TempDir()), Systemd: c})
	const want = `
# HELP impermanence_timer_last_trigger_timestamp_seconds When the timer last triggered (LastTriggerUSec).
# TYPE impermanence_timer_last_trigger_timestamp_seconds gauge
impermanence_timer_last_trigger_timestamp_seconds{unit="btrfs-maintenance.timer"} 1.7672256e+09
# HELP impermanence_timer_next_trigger_timestamp_seconds When the timer triggers next (NextElapseUSecRealtime).
# TYPE impermanence_timer_next_trigger_timestamp_seconds gauge
impermanence_timer_next_trigger_timestamp_seconds{unit="btrfs-maintenance.timer"} 1.7678304e+09
# HELP impermanence_unit_last_exit_status Exit status of the service's last main process (ExecMainStatus).
# TYPE impermanence_unit_last_exit_status gauge
impermanence_unit_last_exit_status{unit="btrfs-maintenance.service"} 3
# HELP impermanence_unit_result The unit's Result (success, exit-code, signal, timeout, ...), always 1.
# TYPE impermanence_unit_result gauge
impermanence_unit_result{result="exit-code",unit="btrfs-maintenance.service"} 1
impermanence_unit_result{result="success",unit="btrfs-maintenance.timer"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"impermanence_timer_last_trigger_timestamp_seconds", "impermanence_timer_next_trigger_timestamp_seconds",
		"impermanence_unit_last_exit_status", "impermanence_unit_result"); err != nil {
		t.Error(err)
	}
	// Units the fake does not export fail like a D-Bus error: the systemd
	// collector reports failure, the scrape still succeeds.
	if v := testutil.ToFloat64(successOf(t, reg, "systemd")); v != 0 {
		t.Errorf("collector_success{systemd} = %v, want 0 (units missing on the fake bus)", v)
	}
}

func successOf(t *testing.T, reg *prometheus.Registry, collector string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "impermanence_collector_success" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == collector {
				return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x", Help: "x"}, func() float64 { return m.GetGauge().GetValue() })
			}
		}
	}
	t.Fatalf("no collector_success for %s", collector)
	return nil
}
