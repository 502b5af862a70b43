package config

import "time"

// Limits on every count and duration the configuration can give (the
// schema's rows name them). A value past its maximum is refused at
// validation (file:line:col), so no later computation has to guess what a
// century of days means; the computations that use them saturate as well
// (see retention and the archive selection).
const (
	// MaxKeepDays bounds [archive].keep_days: 100 years.
	MaxKeepDays = 36500
	// MaxBlankHistory bounds [blank].keep: each former blank holds a
	// whole root's metadata.
	MaxBlankHistory = 100
	// MaxBlankTries bounds [blank].tries.
	MaxBlankTries = 10
	// MaxCount bounds every retention count (keep_min, hourly, daily, ...).
	MaxCount = 1_000_000
	// MaxOverheadBudget bounds [maintenance].overhead_budget, in percent.
	MaxOverheadBudget = 10_000
	// MaxMinAge bounds [snapshots.retention].min_age: 100 years ("100y").
	MaxMinAge = 100 * 8766 * time.Hour // systemd's year is 365.25 days
	// MaxAlertSpan bounds the time spans of [alerts]: one year ("1y").
	MaxAlertSpan = 8766 * time.Hour
	// MaxNotifyTimeout bounds [notify].timeout, inside the notify unit's
	// TimeoutStartSec= (6 minutes).
	MaxNotifyTimeout = 5 * time.Minute
	// MaxNotifyLines bounds [notify].journal_lines.
	MaxNotifyLines = 1000
	// MaxFileSize bounds each configuration file: 1 MiB, far above any
	// real configuration, so a wrong file (a log, an image) is refused
	// before it is parsed.
	MaxFileSize = 1 << 20
	// MaxSysctlKeys bounds the kernel parameters of [sysctl] (all files
	// together), MaxSysctlValues the integers of one value, MaxSysctlKey
	// the length of one name.
	MaxSysctlKeys   = 512
	MaxSysctlValues = 16
	MaxSysctlKey    = 255
)
