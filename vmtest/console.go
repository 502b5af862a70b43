package vmtest

import (
	"fmt"
	"regexp"
	"strings"
)

// kernelFailureRE matches the first line of a guest kernel crash report, as
// the kernel prints it on the console (after a printk time stamp, six
// decimals: the host's own stamps have two) or as the journal shows it
// ("kernel: ..."), or at the start of a raw line:
//   - a die() header, "Oops: 0000 [#1]" on 6.1 and "Oops: int3: 0000 [#1]"
//     on 6.12, "general protection fault ...: 0000 [#1]", "invalid opcode:
//     0000 [#1]": the trap name, the error code in four hex digits and the
//     die counter;
//   - "BUG: <what>" (a NULL dereference, a bad page, ...) and "kernel BUG at
//     <file>" (BUG_ON), except the lockup detectors' "BUG: soft lockup" and
//     "BUG: workqueue lockup", which report a stalled CPU, not a crash:
//     under software emulation on a busy host they mean a slow host;
//   - "Kernel panic - not syncing: <why>".
var kernelFailureRE = regexp.MustCompile(`(?:^|\[ *[0-9]+\.[0-9]{6}\] |kernel: )(` +
	`(?:Oops: )?[A-Za-z][^\[\]]*: [0-9a-f]{4} \[#[0-9]+\].*` +
	`|BUG: .*` +
	`|kernel BUG at .*` +
	`|Kernel panic - not syncing: .*)$`)

var lockupRE = regexp.MustCompile(`^BUG: (soft lockup|workqueue lockup)`)

// kernelFailure returns the crash reports of the guest kernel found in a
// console or journal text, one line each (without time stamps), in order;
// none when the kernel did not crash. A lockup warning is not a crash.
func kernelFailure(text string) []string {
	var found []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r ")
		m := kernelFailureRE.FindStringSubmatch(line)
		if m == nil || lockupRE.MatchString(m[1]) {
			continue
		}
		found = append(found, m[1])
	}
	return found
}

// crashSummary is a one-line summary of crash reports: the distinct lines in
// order, at most three, and how many more there were.
func crashSummary(reports []string) string {
	var distinct []string
	seen := map[string]bool{}
	for _, r := range reports {
		if !seen[r] {
			seen[r] = true
			distinct = append(distinct, r)
		}
	}
	s := strings.Join(distinct[:min(3, len(distinct))], " / ")
	if len(distinct) > 3 {
		s += fmt.Sprintf(" (+%d more kinds)", len(distinct)-3)
	}
	if len(reports) > len(distinct) {
		s += fmt.Sprintf(" (%d reports)", len(reports))
	}
	return s
}
