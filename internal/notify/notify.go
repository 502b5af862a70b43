// Package notify is impermanence-notify: run the operator's notification
// command ([notify].command) for a unit of the suite that failed, with the
// unit, its result and the failed run's last journal lines in the
// environment and a message on standard input, bounded by [notify].timeout.
//
// server-impermanence-notify@<unit>.service runs it; the generator makes
// server-impermanence-failure@.service pull that unit in only when a command
// is configured. It never loops: the notify unit has no OnFailure=, and the
// command refuses to notify about the failure or notify units themselves.
// Its own failure (the command fails, times out, cannot start) is logged
// with its MESSAGE_ID and is the unit's failure, nothing more.
//
// The decisions (whether to notify, the environment, the message) are pure
// (Build); Run gathers the facts from systemd over D-Bus
// (internal/systemdbus, as the exporter) and journalctl, and runs the
// command in a process group of its own that the timeout kills whole.
package notify

import (
	"fmt"
	"strings"
)

// Env variable names the command receives.
const (
	EnvUnit       = "IMPERMANENCE_UNIT"
	EnvResult     = "IMPERMANENCE_RESULT"
	EnvHost       = "IMPERMANENCE_HOST"
	EnvJournal    = "IMPERMANENCE_JOURNAL"
	EnvInvocation = "IMPERMANENCE_INVOCATION_ID"
)

// MaxJournal bounds the journal text given to the command (the environment
// of a process is limited, and a message need not be a log file).
const MaxJournal = 64 << 10

// loopUnits are the unit name prefixes never notified about: the failure
// handler and the notification itself.
var loopUnits = []string{"server-impermanence-failure@", "server-impermanence-notify@"}

// Facts are what is known of the failure.
type Facts struct {
	Unit string
	Host string
	// Result is systemd's Result of the unit ("exit-code", "timeout", ...);
	// "" when it could not be read.
	Result string
	// InvocationID identifies the failed run in the journal ("" unknown).
	InvocationID string
	// Journal is the run's last journal lines.
	Journal string
	// Problems say what could not be read (the notification goes out
	// without it).
	Problems []string
}

// Refusal says why a unit is not notified about ("" to notify).
func Refusal(unit string) string {
	for _, p := range loopUnits {
		if strings.HasPrefix(unit, p) {
			return "a failure of the failure handling itself is never notified (no loop)"
		}
	}
	return ""
}

// Environ returns the variables the command gets on top of its own
// environment.
func Environ(f Facts) []string {
	result := f.Result
	if result == "" {
		result = "unknown"
	}
	return []string{
		EnvUnit + "=" + f.Unit,
		EnvResult + "=" + result,
		EnvHost + "=" + f.Host,
		EnvInvocation + "=" + f.InvocationID,
		EnvJournal + "=" + clip(f.Journal),
	}
}

// Message is the text on the command's standard input: a mail body.
func Message(f Facts) string {
	var b strings.Builder
	result := f.Result
	if result == "" {
		result = "unknown result"
	}
	fmt.Fprintf(&b, "%s failed on %s (%s).\n", f.Unit, f.Host, result)
	for _, p := range f.Problems {
		fmt.Fprintf(&b, "(%s)\n", p)
	}
	if j := strings.TrimRight(clip(f.Journal), "\n"); j != "" {
		fmt.Fprintf(&b, "\nThe last lines of its journal:\n\n%s\n", j)
	}
	fmt.Fprintf(&b, "\nMore: journalctl -u %s; systemctl status %s; impermanence-status\n", f.Unit, f.Unit)
	return b.String()
}

// clip keeps the last MaxJournal bytes of s, from a line start.
func clip(s string) string {
	if len(s) <= MaxJournal {
		return s
	}
	s = s[len(s)-MaxJournal:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
