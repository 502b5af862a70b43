// Package msgid holds the journal MESSAGE_IDs of every event kind the suite
// logs. units/server-impermanence.catalog explains each one (journalctl -x);
// a test keeps the two in step. The values are contracts: never change one.
package msgid

// MESSAGE_IDs (128-bit, as journalctl --new-id128 prints them).
const (
	// RollbackDone: rollback done: ephemeral subvolumes reset from their blanks.
	RollbackDone = "e35428361cfb4c9d9e94e81fdd9f6956"
	// RollbackFailed: rollback failed: the previous root was left in place.
	RollbackFailed = "74eceb03a02d4295843f9531dda3518e"
	// RollbackSkipped: rollback skipped (emergency switch, hibernation resume, invalid config).
	RollbackSkipped = "bc23e08778034bee96c89554b67280ac"
	// ArchivePruned: an archived previous state was deleted by retention.
	ArchivePruned = "5e4657a8a85c452aa060aea1db21ad1c"
	// SnapshotCreated: a scheduled or manual snapshot was created.
	SnapshotCreated = "ef210ec1ee6a46d6b0e4e42257f2f149"
	// SnapshotFailed: a snapshot could not be created.
	SnapshotFailed = "f0beacfd5f9f47728f9e2a855e345f27"
	// SnapshotDeleted: a snapshot was deleted by retention.
	SnapshotDeleted = "f219b81007174275a171f67c74263ceb"
	// PruneDone: snapshot retention run finished.
	PruneDone = "2cc9ec06f7e242ad934374459834f9e6"
	// ScrubResult: scrub finished, with its error counters.
	ScrubResult = "953217f3fe064971a6c4bad87027f538"
	// BalanceResult: balance finished, with the chunks relocated.
	BalanceResult = "fd3cfdb7b7124485af2d7c84149cd97f"
	// ConfigInvalid: the configuration is invalid; destructive units were not generated.
	ConfigInvalid = "6a6b271752de419b92150800d65c7f52"
	// RestoreDone: a subvolume or path was restored from a snapshot.
	RestoreDone = "7001e805c9c540fea4166158149fbd9f"
	// SpaceLow: free space on the filesystem is under the threshold.
	SpaceLow = "bdc36c29161d405f95e47dc681429aca"
	// TuneChanged: a subvolume's compression property or NoCoW attribute was set to the configured value.
	TuneChanged = "51aa0544faf24b8a89e81ba9c0b99bc6"
	// TuneNotApplied: a subvolume's compression or NoCoW was not applied (not mounted where configured, or failed).
	TuneNotApplied = "329f4055770e43e3905a9f63ec552bd3"
	// SysctlChanged: a kernel parameter (the mode's or [sysctl]'s) was written.
	SysctlChanged = "9ec6b403ea014b248d97cca647b9c307"
	// SysctlNotApplied: a kernel parameter was not written (the kernel lacks it, refuses the value, or the mode's file is unreadable).
	SysctlNotApplied = "d4581300e6604f8ba09ec27e991af8f6"
	// JobStopped: a job was stopped by a signal (systemctl stop, a timeout) before it finished.
	JobStopped = "5baf4da4b5704835a9b3c1bc6ffa0639"
	// NotifySent: the [notify].command ran for a failed unit and succeeded.
	NotifySent = "4d61ec5d97fe4f1d94763d4e68a9385f"
	// NotifyFailed: a failed unit was not notified (the command failed or timed out, or the configuration is invalid).
	NotifyFailed = "ac30466493be43c69312ef70aed7c4f6"
	// BlankCommitted: a new blank was committed; the one it replaced went into the history.
	BlankCommitted = "06124445fd344cf7b39235af82971e61"
	// BlankTrial: a trial boot of a newly committed blank.
	BlankTrial = "b55634b7bdc04cdabc50443dd1d06289"
	// BlankGood: a trial boot reached boot-complete.target; the new blank is good.
	BlankGood = "1b012d3dfd3c456d9ba53990f99d2d5f"
	// BlankFallback: the new blank failed its trial boots; the rollback reset from the previous good blank.
	BlankFallback = "045365559ebb43938021307552197ef2"
	// BlankRequested: the rollback reset from the blank the kernel command line asked for.
	BlankRequested = "9fef7de1bb6e43fd837d52f62294a7fd"
	// BlankRequestIgnored: the blank the kernel command line asked for is unusable; the configured blank was used.
	BlankRequestIgnored = "71c92d430fba4461962a6699eee6cccb"
)

// All lists every MESSAGE_ID with its name, for the catalog test.
var All = map[string]string{
	"RollbackDone":     RollbackDone,
	"RollbackFailed":   RollbackFailed,
	"RollbackSkipped":  RollbackSkipped,
	"ArchivePruned":    ArchivePruned,
	"SnapshotCreated":  SnapshotCreated,
	"SnapshotFailed":   SnapshotFailed,
	"SnapshotDeleted":  SnapshotDeleted,
	"PruneDone":        PruneDone,
	"ScrubResult":      ScrubResult,
	"BalanceResult":    BalanceResult,
	"ConfigInvalid":    ConfigInvalid,
	"RestoreDone":      RestoreDone,
	"SpaceLow":         SpaceLow,
	"TuneChanged":      TuneChanged,
	"TuneNotApplied":   TuneNotApplied,
	"SysctlChanged":    SysctlChanged,
	"SysctlNotApplied": SysctlNotApplied,
	"JobStopped":       JobStopped,
	"NotifySent":       NotifySent,
	"NotifyFailed":     NotifyFailed,

	"BlankCommitted":      BlankCommitted,
	"BlankTrial":          BlankTrial,
	"BlankGood":           BlankGood,
	"BlankFallback":       BlankFallback,
	"BlankRequested":      BlankRequested,
	"BlankRequestIgnored": BlankRequestIgnored,
}
