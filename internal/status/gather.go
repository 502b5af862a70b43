package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/metrics"
	"github.com/server-impermanence/server-impermanence/internal/state"
)

// Sources are where Gather reads.
type Sources struct {
	Paths metrics.Paths
	// Systemd is the unit source (nil: units and timers are not read).
	Systemd metrics.UnitSource
	// Timeout bounds the D-Bus calls.
	Timeout time.Duration
}

// Gather reads every fact at now: the exporter's collectors in process,
// the state records and the configuration.
func Gather(src Sources, now time.Time) Facts {
	f := Facts{Now: now.UTC()}
	opts := metrics.Options{Paths: src.Paths, Now: func() time.Time { return now }, Systemd: src.Systemd,
		Timeout: src.Timeout, Version: "status",
		OnError: func(c string, err error) {
			f.Unreadable = append(f.Unreadable, SourceError{Source: c, Error: err.Error()})
		}}
	mfs, err := metrics.NewRegistry(opts).Gather()
	if err != nil {
		f.Unreadable = append(f.Unreadable, SourceError{Source: "metrics", Error: err.Error()})
	}
	cfg, cfgErr := config.Load(src.Paths.Config)
	if cfgErr != nil {
		cfg = config.Default()
	}
	records := map[string]state.Record{}
	s := samplesOf(mfs)
	thisBoot := s.has("rollback_this_boot", 1)
	for _, job := range metrics.Jobs {
		dir := src.Paths.StateDir
		if job == "rollback" && thisBoot {
			dir = src.Paths.RunDir
		}
		rec, err := state.Read(dir, job)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue // never ran
		case err != nil:
			f.Unreadable = append(f.Unreadable, SourceError{Source: "job " + job, Error: err.Error()})
			continue
		}
		records[job] = rec
	}
	build(&f, s, cfg, cfgErr, records, src.Paths.Config)
	return f
}

// build fills f from the gathered samples, the configuration (the built-in
// default when cfgErr) and the state records by job.
func build(f *Facts, s samples, cfg *config.Config, cfgErr error, records map[string]state.Record, cfgPath string) {
	f.Config = Config{Path: cfgPath, Valid: s.has("config_valid", 1)}
	if cfgErr != nil {
		f.Config.Error = cfgErr.Error()
	}
	if v, ok := s.get("initrd_config_stale"); ok {
		stale := v == 1
		f.Config.InitrdStale = &stale
	}
	if rec, ok := records["rollback"]; ok {
		f.Rollback = rollbackOf(rec, s.has("rollback_this_boot", 1))
		if f.Rollback.ThisBoot {
			blankChoices(f.Rollback, s)
		}
	}
	for _, job := range metrics.Jobs {
		rec, ok := records[job]
		if !ok || job == "rollback" {
			continue
		}
		f.Jobs = append(f.Jobs, Job{Job: job, Result: rec.Result, LastRun: rec.LastRun.UTC(),
			LastSuccess: rec.LastSuccess.UTC(), Duration: rec.Duration, Error: rec.Error,
			HookFailures: rec.Counters["pre_hook_failed"] + rec.Counters["post_hook_failed"]})
	}

	for _, sv := range cfg.Subvolumes {
		_, hasArchives := s.get("archives", "subvolume", sv.Name)
		archived := sv.Class == config.Ephemeral && sv.Archive
		if !sv.Snapshot && !archived && !hasArchives {
			continue
		}
		out := Subvolume{Name: sv.Name, Snapshot: sv.Snapshot}
		if sv.Snapshot {
			_, counted := s.get("snapshots", "subvolume", sv.Name, "kind", "timeline")
			out.SnapshotsUnknown = !counted
			out.Timeline = s.span("snapshots", "snapshot", "subvolume", sv.Name, "kind", "timeline")
			out.Manual = s.span("snapshots", "snapshot", "subvolume", sv.Name, "kind", "manual")
			if v, ok := s.get("snapshot_unrecognized_entries", "subvolume", sv.Name); ok {
				out.Unrecognized = int(v)
			}
			// Its effective policy: its own, a [policy.NAME]'s or
			// [snapshots]'s, which says where it comes from.
			out.Retention = describeRetention(sv.Retention)
			if sv.PolicyFrom != "" && sv.PolicyFrom != config.PolicyDefault {
				out.Retention += " (" + sv.PolicyFrom + ")"
			}
			// A per-subvolume interval when the exporter serves one, else
			// the [snapshots] schedule's.
			if v, ok := s.get("snapshot_schedule_interval_seconds", "subvolume", sv.Name); ok {
				out.ScheduleInterval = seconds(v)
			} else if v, ok := s.getUnlabelled("snapshot_schedule_interval_seconds"); ok {
				out.ScheduleInterval = seconds(v)
			}
		}
		if archived || hasArchives {
			sp := s.span("archives", "archive", "subvolume", sv.Name)
			out.Archives = &sp
		}
		if v, ok := s.get("overhead_ratio", "subvolume", sv.Name); ok {
			out.Overhead = ptr(Ratio(v))
		}
		f.Subvolumes = append(f.Subvolumes, out)
	}
	for _, x := range s["archive_inventory_timestamp_seconds"] {
		f.ArchivesTaken, f.ArchivesJob = timeOf(x.value), x.labels["job_name"]
		if f.ArchivesJob == "" {
			f.ArchivesJob = x.labels["job"] // the label's name before honor_labels
		}
	}

	if info := s["filesystem_info"]; len(info) > 0 {
		fsys := &Filesystem{UUID: info[0].labels["fsid"], Label: info[0].labels["label"]}
		fsys.Size = s.uint("filesystem_size_bytes")
		fsys.Free = s.uint("filesystem_free_bytes")
		fsys.Unallocated = s.uint("filesystem_unallocated_bytes")
		for _, x := range s["device_errors_total"] {
			if x.value > 0 {
				fsys.DeviceErrors = append(fsys.DeviceErrors, DeviceError{Devid: x.labels["devid"], Type: x.labels["type"], Count: uint64(x.value)})
			}
		}
		f.Filesystem = fsys
	}

	if v, ok := s.get("scrub_pass_max_age_seconds"); ok {
		f.Scrub.Enabled, f.Scrub.MaxAge = true, seconds(v)
	}
	f.Scrub.Started = s.time("scrub_pass_started_timestamp_seconds")
	f.Scrub.LastCompleted = s.time("scrub_last_pass_completed_timestamp_seconds")
	f.Scrub.Progress, _ = s.get("scrub_pass_progress_ratio")
	for _, x := range s["scrub_last_errors"] {
		if x.value > 0 {
			if f.Scrub.Errors == nil {
				f.Scrub.Errors = map[string]uint64{}
			}
			f.Scrub.Errors[x.labels["type"]] = uint64(x.value)
		}
	}

	for _, unit := range s.labelValues("unit_loaded", "unit") {
		u := Unit{Unit: unit, Loaded: s.has("unit_loaded", 1, "unit", unit)}
		for _, x := range s.all("unit_active_state", "unit", unit) {
			if x.value == 1 {
				u.ActiveState = x.labels["state"]
			}
		}
		for _, x := range s.all("unit_result", "unit", unit) {
			u.Result = x.labels["result"]
		}
		u.LastTrigger = s.time("timer_last_trigger_timestamp_seconds", "unit", unit)
		u.NextElapse = s.time("timer_next_trigger_timestamp_seconds", "unit", unit)
		f.Units = append(f.Units, u)
	}

	for _, t := range cfg.Targets {
		for _, sv := range t.Subvolumes {
			tg := Target{Target: t.Name, Subvolume: sv}
			tg.LastSuccess = s.time("target_last_success_timestamp_seconds", "target", t.Name, "subvolume", sv)
			tg.Newest = s.time("target_newest_snapshot_timestamp_seconds", "target", t.Name, "subvolume", sv)
			if v, ok := s.get("target_snapshots", "target", t.Name, "subvolume", sv); ok {
				tg.Snapshots = int(v)
			}
			if v, ok := s.get("target_max_age_seconds", "target", t.Name); ok {
				tg.MaxAge = seconds(v)
			}
			f.Targets = append(f.Targets, tg)
		}
	}

	th := &f.Thresholds
	th.FreeSpaceRatio, _ = s.get("alert_free_space_ratio")
	th.SnapshotStaleIntervals, _ = s.get("alert_snapshot_stale_intervals")
	if v, ok := s.get("archive_keep_age_seconds"); ok {
		th.ArchiveKeepAge = seconds(v)
	}
	if v, ok := s.get("archive_keep_min"); ok {
		th.ArchiveKeepMin = int(v)
	}
	if v, ok := s.get("alert_archive_grace_seconds"); ok {
		th.ArchiveGrace = seconds(v)
	}
	if v, ok := s.get("alert_snapshot_slow_seconds"); ok {
		th.SnapshotSlow = seconds(v)
	}
	if v, ok := s.get("alert_rollback_slow_seconds"); ok {
		th.RollbackSlow = seconds(v)
	}
	th.OverheadBudget, _ = s.get("overhead_budget_ratio")
}

// blankChoices takes the blank each subvolume was reset from at this boot
// from the exporter's blank metrics (impermanence_blank_info, _fallback:
// the blank status the rollback records) when it serves them: they name
// a former blank or a fallback, which the plan's snapshot step names too
// but cannot call a fallback.
func blankChoices(r *Rollback, s samples) {
	for _, x := range s["blank_info"] {
		sv, blank := x.labels["subvolume"], x.labels["blank"]
		i := slices.IndexFunc(r.Resets, func(rs Reset) bool { return rs.Subvolume == sv })
		if i < 0 {
			r.Resets = append(r.Resets, Reset{Subvolume: sv})
			i = len(r.Resets) - 1
		}
		r.Resets[i].Blank = blank
		r.Resets[i].Fallback = s.has("blank_fallback", 1, "subvolume", sv)
	}
}

// rollbackDetails is what the status reads of the rollback's Details
// (internal/rollback's Result, which a test of this package pins).
type rollbackDetails struct {
	What   []string `json:"what_to_do"`
	Reason string   `json:"reason"`
	Plan   *struct {
		Steps []struct {
			Op        string `json:"op"`
			Subvolume string `json:"subvolume"`
			Path      string `json:"path"`
			From      string `json:"from"`
			Action    string `json:"action"`
		} `json:"steps"`
		Archives []string `json:"archives"`
		Warnings []string `json:"warnings"`
	} `json:"plan"`
}

func rollbackOf(rec state.Record, thisBoot bool) *Rollback {
	r := &Rollback{ThisBoot: thisBoot, Result: rec.Result, Time: rec.LastRun.UTC(), Duration: rec.Duration, Error: rec.Error}
	var d rollbackDetails
	if len(rec.Details) == 0 || json.Unmarshal(rec.Details, &d) != nil {
		return r
	}
	r.What, r.Reason = d.What, d.Reason
	if d.Plan == nil {
		return r
	}
	r.Archives, r.Warnings = d.Plan.Archives, d.Plan.Warnings
	for _, st := range d.Plan.Steps {
		if st.Action != "reset" || (st.Op != "snapshot" && st.Op != "create") {
			continue
		}
		reset := Reset{Subvolume: st.Subvolume}
		if st.Op == "snapshot" {
			reset.Blank = st.From
		}
		if !slices.ContainsFunc(r.Resets, func(x Reset) bool { return x.Subvolume == reset.Subvolume }) {
			r.Resets = append(r.Resets, reset)
		}
	}
	return r
}

// describeRetention is the snapshot retention for people: "keep 3 newest,
// 24 hourly, 7 daily, 4 weekly, 12 monthly; all younger than 1h".
func describeRetention(r config.Retention) string {
	var parts []string
	if r.KeepMin > 0 {
		parts = append(parts, fmt.Sprintf("%d newest", r.KeepMin))
	}
	for _, b := range []struct {
		n    int
		name string
	}{{r.Hourly, "hourly"}, {r.Daily, "daily"}, {r.Weekly, "weekly"}, {r.Monthly, "monthly"}, {r.Yearly, "yearly"}} {
		if b.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", b.n, b.name))
		}
	}
	s := "keep " + strings.Join(parts, ", ")
	if len(parts) == 0 {
		s = "keep none by count"
	}
	if r.MinAge > 0 {
		s += "; all younger than " + shortDuration(r.MinAge)
	}
	return s
}

func (s samples) has(name string, v float64, kv ...string) bool {
	got, ok := s.get(name, kv...)
	return ok && got == v
}

func (s samples) uint(name string) uint64 {
	v, _ := s.get(name)
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// getUnlabelled returns the series of name without labels.
func (s samples) getUnlabelled(name string) (float64, bool) {
	for _, x := range s[name] {
		if len(x.labels) == 0 {
			return x.value, true
		}
	}
	return 0, false
}

// span returns the count (countName) and the oldest and newest times
// (<kind>_oldest/newest_timestamp_seconds) of the series matching kv.
func (s samples) span(countName, kind string, kv ...string) Span {
	v, _ := s.get(countName, kv...)
	return Span{Count: int(v), Oldest: s.time(kind+"_oldest_timestamp_seconds", kv...),
		Newest: s.time(kind+"_newest_timestamp_seconds", kv...)}
}

func ptr[T any](v T) *T { return &v }
