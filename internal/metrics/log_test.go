package metrics

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// downUnits fails every call while down is set (systemd unreachable).
type downUnits struct {
	down *bool
	fakeUnits
}

func (d downUnits) Properties(ctx context.Context, unit, iface string) (map[string]any, error) {
	if *d.down {
		return nil, errors.New("dbus: connection refused")
	}
	return d.fakeUnits.Properties(ctx, unit, iface)
}

// TestLogOnChange: a collector that keeps failing is logged once when it
// starts failing and once when it recovers, not at every scrape; the
// collector_success metric carries the state in between.
func TestLogOnChange(t *testing.T) {
	var buf bytes.Buffer
	opts := fixtureOptions(t)
	opts.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	down := false
	opts.Systemd = downUnits{&down, fixtureUnits()}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(opts))
	success := regexp.MustCompile(`impermanence_collector_success\{collector="systemd"\} (\d)`)
	for i, st := range []bool{false, true, true, true, false, false, true} {
		down = st
		body := string(encodeStable(t, reg))
		want := "1"
		if st {
			want = "0"
		}
		if m := success.FindStringSubmatch(body); m == nil || m[1] != want {
			t.Errorf("scrape %d (systemd down %v): collector_success{systemd} = %v, want %s", i, st, m, want)
		}
	}
	got := regexp.MustCompile(`(?m)^.*collector=systemd.*$`).FindAllString(buf.String(), -1)
	// The error lists every unit (a list that grows): pin its first one.
	errAttr := regexp.MustCompile(` error="unit server-snapshots.service: dbus: connection refused\\n.*"$`)
	for i := range got {
		got[i] = errAttr.ReplaceAllString(got[i], ` error="unit server-snapshots.service: dbus: connection refused…"`)
	}
	want := []string{
		`level=WARN msg="collector failing" collector=systemd error="unit server-snapshots.service: dbus: connection refused…"`,
		`level=INFO msg="collector recovered" collector=systemd`,
		`level=WARN msg="collector failing" collector=systemd error="unit server-snapshots.service: dbus: connection refused…"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines about the systemd collector (-want +got):\n%s\nwhole log:\n%s", diff, buf.String())
	}
}
