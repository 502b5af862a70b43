// Package status is impermanence-status: one answer to "is this server
// healthy", in text for people and --json for scripts, with an exit status
// a monitoring check can use.
//
// It reads what the exporter reads and mounts nothing: the collectors of
// internal/metrics run in process (the same sysfs, mount table, snapshot
// names, archive inventory, state records, target records and, over D-Bus,
// the units and timers), and the state records' own words (an error, the
// rollback's archives and blanks) that a metric cannot carry come from
// internal/state. Gather turns them into Facts; Assess (pure) decides the
// problems, one per condition of the shipped alert rules, each in plain
// words with the commands that explain or fix it; Render lays the report
// out for an 80-column terminal.
package status
