package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/plan"
)

// UnitSource reads unit properties from the service manager
// (internal/systemdbus over D-Bus; a plain Go fake in tests).
type UnitSource interface {
	// Properties returns the properties of the unit's interface iface
	// ("Unit", "Service", "Timer"), as go-systemd's GetUnitTypeProperties.
	Properties(ctx context.Context, unit, iface string) (map[string]any, error)
}

// Services and Timers are the units whose health is exported.
var (
	Services = []string{
		"server-snapshots.service", "server-snapshots-cleanup.service", "btrfs-maintenance.service",
		"server-impermanence-scrub.service", "server-impermanence-persist.service", "server-impermanence-tune.service",
		"server-impermanence-config-error.service",
	}
	Timers = []string{"server-snapshots.timer", "server-snapshots-cleanup.timer", "btrfs-maintenance.timer",
		"server-impermanence-scrub.timer"}
)

// activeStates are systemd's unit active states.
var activeStates = []string{"active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance", "refreshing"}

var (
	unitLoadedDesc = desc("unit_loaded", "1 if systemd has the unit loaded, 0 if not found.", "unit")
	unitStateDesc  = desc("unit_active_state", "1 for the unit's ActiveState, 0 for the others.", "unit", "state")
	unitResultDesc = desc("unit_result", "The unit's Result (success, exit-code, signal, timeout, ...), always 1.", "unit", "result")
	unitExitDesc   = desc("unit_last_exit_status", "Exit status of the service's last main process (ExecMainStatus).", "unit")
	timerLastDesc  = desc("timer_last_trigger_timestamp_seconds", "When the timer last triggered (LastTriggerUSec).", "unit")
	timerNextDesc  = desc("timer_next_trigger_timestamp_seconds", "When the timer triggers next (NextElapseUSecRealtime).", "unit")
)

type systemdSource struct{ units UnitSource }

func (systemdSource) name() string { return "systemd" }

func (systemdSource) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{unitLoadedDesc, unitStateDesc, unitResultDesc, unitExitDesc, timerLastDesc, timerNextDesc} {
		ch <- d
	}
}

// units returns the units whose health is exported: Services, Timers and
// the send@ service and timer of each configured [[target]] (so a failing
// target is its own ImpermanenceUnitFailed, whatever the others did).
func units(cfg *config.Config) []string {
	out := append(append([]string(nil), Services...), Timers...)
	for _, t := range cfg.Targets {
		out = append(out, plan.SendInstance(plan.SendService, t.Name), plan.SendInstance(plan.SendTimer, t.Name))
	}
	return out
}

func (src systemdSource) collect(ctx context.Context, sc *scrape, ch chan<- prometheus.Metric) error {
	var errs []error
	cfg, _ := sc.config() // an invalid configuration: the built-in default's units
	for _, unit := range units(cfg) {
		if err := src.unit(ctx, ch, unit); err != nil {
			errs = append(errs, fmt.Errorf("unit %s: %w", unit, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (src systemdSource) unit(ctx context.Context, ch chan<- prometheus.Metric, unit string) error {
	u, err := src.units.Properties(ctx, unit, "Unit")
	if err != nil {
		return err
	}
	loaded := str(u["LoadState"]) == "loaded"
	gauge(ch, unitLoadedDesc, b2f(loaded), unit)
	if !loaded {
		return nil
	}
	st := str(u["ActiveState"])
	for _, s := range activeStates {
		gauge(ch, unitStateDesc, b2f(s == st), unit, s)
	}
	typ := "Service"
	if strings.HasSuffix(unit, ".timer") {
		typ = "Timer"
	}
	p, err := src.units.Properties(ctx, unit, typ)
	if err != nil {
		return err
	}
	if r := str(p["Result"]); r != "" {
		gauge(ch, unitResultDesc, 1, unit, r)
	}
	if typ == "Service" {
		if v, ok := p["ExecMainStatus"].(int32); ok {
			gauge(ch, unitExitDesc, float64(v), unit)
		}
		return nil
	}
	if v, ok := p["LastTriggerUSec"].(uint64); ok && v != 0 {
		gauge(ch, timerLastDesc, float64(v)/1e6, unit)
	}
	if v, ok := p["NextElapseUSecRealtime"].(uint64); ok && v != 0 && v != ^uint64(0) {
		gauge(ch, timerNextDesc, float64(v)/1e6, unit)
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
