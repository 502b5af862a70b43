// Package blanks is the history of the blank of an ephemeral subvolume and
// the choice of the blank a boot resets from.
//
// The blank keeps its configured name; committing a new one
// (impermanence-provision --commit) renames the one it replaces to
// <blank>.<YYYYMMDDTHHMMSSZ> (names.BlankHistory), read-only, keeping its
// UUID, so the running root (a snapshot of it) still names it as its
// parent. History lists a blank's entries, Select decides which former
// ones stay ([blank] keep, never the one the running system came from nor
// the one a fallback would use).
//
// A newly committed blank is on trial: the trial file (TrialFile, in the
// archive dir of the top level, which the initrd reaches before anything is
// mounted) names it by UUID, with the previous good blank. Choose is the
// rollback's decision for one boot: a blank the kernel command line asks
// for (server-impermanence.blank=previous|<name>), a trial boot (counted
// in the trial file before the reset), the previous good blank after
// [blank] tries trial boots that did not reach boot-complete.target, or the
// configured blank. Every unusable request falls back to the configured
// blank with a warning: a boot is never refused for it.
//
// The boot's choices go to the status file (StatusFile, in the run dir)
// that the exporter, the commit and the mark-good unit read.
//
// Decisions are pure; the trial and status files are the only I/O. It
// imports only boot-path packages (the rollback links it).
package blanks
