package status

import (
	"math"
	"strconv"
	"time"
)

// Facts are what the status knows about the server, gathered at Now.
// Times are UTC; a zero time is "never" or "unknown".
type Facts struct {
	Now time.Time `json:"time"`

	Config   Config    `json:"config"`
	Rollback *Rollback `json:"rollback,omitempty"` // nil: no rollback record at all
	// Subvolumes are the configured subvolumes with snapshots or archives.
	Subvolumes []Subvolume `json:"subvolumes"`
	// ArchivesTaken is when the archive inventory was recorded, by
	// ArchivesJob (rollback or cleanup); zero: none yet.
	ArchivesTaken time.Time   `json:"archives_taken,omitzero"`
	ArchivesJob   string      `json:"archives_job,omitempty"`
	Filesystem    *Filesystem `json:"filesystem,omitempty"`
	Scrub         Scrub       `json:"scrub"`
	Jobs          []Job       `json:"jobs"`
	Units         []Unit      `json:"units"`
	Targets       []Target    `json:"targets,omitempty"`
	// Thresholds are those of the alert rules, as the exporter serves them.
	Thresholds Thresholds `json:"thresholds"`
	// Unreadable are the sources that could not be read.
	Unreadable []SourceError `json:"unreadable,omitempty"`
}

// Config is the configuration's state.
type Config struct {
	Path  string `json:"path"`
	Valid bool   `json:"valid"`
	Error string `json:"error,omitempty"`
	// InitrdStale: the initrd's copy differs from /etc's; nil when there is
	// nothing to compare (no rollback at this boot).
	InitrdStale *bool `json:"initrd_stale,omitempty"`
}

// Rollback is the initrd rollback's record.
type Rollback struct {
	// ThisBoot: the record is this boot's (the run directory's); else it is
	// an earlier boot's, and the rollback left none at this one.
	ThisBoot bool      `json:"this_boot"`
	Result   string    `json:"result"`
	Time     time.Time `json:"time"`
	Duration float64   `json:"duration_seconds"`
	Error    string    `json:"error,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	What     []string  `json:"what_to_do,omitempty"`
	// Resets are the ephemeral subvolumes reset, with the blank each came
	// from ("" for an empty subvolume).
	Resets   []Reset  `json:"resets,omitempty"`
	Archives []string `json:"archives,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Reset is one ephemeral subvolume the rollback reset.
type Reset struct {
	Subvolume string `json:"subvolume"`
	Blank     string `json:"blank,omitempty"`
	// Fallback: the blank is the previous good one, the newly committed
	// blank having failed its trial boots.
	Fallback bool `json:"fallback,omitempty"`
}

// Span is a count and the time range of the names counted.
type Span struct {
	Count  int       `json:"count"`
	Oldest time.Time `json:"oldest,omitzero"`
	Newest time.Time `json:"newest,omitzero"`
}

// Subvolume is what exists of one subvolume's history.
type Subvolume struct {
	Name     string `json:"name"`
	Snapshot bool   `json:"snapshot"`
	// Timeline and Manual are its snapshots (when Snapshot).
	Timeline Span `json:"timeline"`
	Manual   Span `json:"manual"`
	// SnapshotsUnknown: its snapshots could not be counted (the snapshots
	// source failed for it); Timeline and Manual are zero.
	SnapshotsUnknown bool `json:"snapshots_unknown,omitempty"`
	Unrecognized     int  `json:"unrecognized,omitempty"`
	// Archives are its archived previous states (ephemeral with archive).
	Archives *Span `json:"archives,omitempty"`
	// Retention describes the snapshot retention, for people.
	Retention string `json:"retention,omitempty"`
	// ScheduleInterval is the longest gap of its snapshot schedule (zero:
	// the schedule does not repeat).
	ScheduleInterval Duration `json:"schedule_interval_seconds,omitzero"`
	// Overhead is the measured storage overhead ratio; nil: not measured.
	Overhead *Ratio `json:"overhead_ratio,omitempty"`
}

// Filesystem is the btrfs filesystem's space and errors.
type Filesystem struct {
	UUID        string `json:"uuid"`
	Label       string `json:"label,omitempty"`
	Size        uint64 `json:"size_bytes"`
	Free        uint64 `json:"free_bytes"`
	Unallocated uint64 `json:"unallocated_bytes"`
	// DeviceErrors are the non-zero persistent error counters.
	DeviceErrors []DeviceError `json:"device_errors,omitempty"`
}

// DeviceError is one non-zero error counter of a member device.
type DeviceError struct {
	Devid string `json:"devid"`
	Type  string `json:"type"`
	Count uint64 `json:"count"`
}

// Scrub is the scrub pass and the last scrub's errors.
type Scrub struct {
	Enabled       bool              `json:"enabled"`
	Started       time.Time         `json:"pass_started,omitzero"`
	LastCompleted time.Time         `json:"last_pass_completed,omitzero"`
	Progress      float64           `json:"pass_progress"`
	MaxAge        Duration          `json:"max_age_seconds,omitzero"`
	Errors        map[string]uint64 `json:"last_errors,omitempty"` // non-zero only
}

// Job is a job's last run, from its state record.
type Job struct {
	Job         string    `json:"job"`
	Result      string    `json:"result"`
	LastRun     time.Time `json:"last_run"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	Duration    float64   `json:"duration_seconds"`
	Error       string    `json:"error,omitempty"`
	// HookFailures counts the snapshot hooks that failed in the last run
	// (the snapshot record's pre_hook_failed and post_hook_failed).
	HookFailures int64 `json:"hook_failures,omitempty"`
}

// Unit is a unit of the suite as systemd sees it.
type Unit struct {
	Unit        string    `json:"unit"`
	Loaded      bool      `json:"loaded"`
	ActiveState string    `json:"active_state,omitempty"`
	Result      string    `json:"result,omitempty"`
	LastTrigger time.Time `json:"last_trigger,omitzero"` // timers
	NextElapse  time.Time `json:"next_elapse,omitzero"`  // timers
}

// Target is one subvolume of one replication target.
type Target struct {
	Target      string    `json:"target"`
	Subvolume   string    `json:"subvolume"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	Newest      time.Time `json:"newest_snapshot,omitzero"`
	Snapshots   int       `json:"snapshots"`
	MaxAge      Duration  `json:"max_age_seconds,omitzero"`
}

// Thresholds are the alert rules' thresholds (zero disables a rule).
type Thresholds struct {
	FreeSpaceRatio         float64  `json:"free_space_ratio"`
	SnapshotStaleIntervals float64  `json:"snapshot_stale_intervals"`
	ArchiveKeepAge         Duration `json:"archive_keep_age_seconds"`
	ArchiveKeepMin         int      `json:"archive_keep_min"`
	ArchiveGrace           Duration `json:"archive_grace_seconds"`
	SnapshotSlow           Duration `json:"snapshot_slow_seconds"`
	RollbackSlow           Duration `json:"rollback_slow_seconds"`
	OverheadBudget         float64  `json:"overhead_budget_ratio"`
}

// SourceError is a source that could not be read, and why.
type SourceError struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

// Duration is a time.Duration that JSON writes in seconds.
type Duration time.Duration

// MarshalJSON writes d in seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(d).Seconds(), 'f', -1, 64)), nil
}

// unreadable reports whether the source could not be read.
func (f Facts) unreadable(source string) bool {
	for _, u := range f.Unreadable {
		if u.Source == source {
			return true
		}
	}
	return false
}

// Ratio is a ratio that JSON writes as a number, or "+Inf" (a subvolume
// whose data only its snapshots and archives hold).
type Ratio float64

// MarshalJSON writes r.
func (r Ratio) MarshalJSON() ([]byte, error) {
	if math.IsInf(float64(r), 1) {
		return []byte(`"+Inf"`), nil
	}
	return []byte(strconv.FormatFloat(float64(r), 'f', -1, 64)), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Ratio) UnmarshalJSON(b []byte) error {
	if string(b) == `"+Inf"` {
		*r = Ratio(math.Inf(1))
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	*r = Ratio(v)
	return err
}

// UnmarshalJSON reads seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseFloat(string(b), 64)
	*d = Duration(time.Duration(v * float64(time.Second)))
	return err
}
