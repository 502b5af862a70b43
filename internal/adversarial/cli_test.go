package adversarial_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cliCase is one hostile command line: the binary, its arguments and what
// the usage error must name (the flag, or the argument).
type cliCase struct {
	program string
	args    []string
	names   string
}

// lockJobs take the filesystem lock (and so --lock-timeout).
var lockJobs = []string{"impermanence-snapshot", "impermanence-prune", "impermanence-maintain",
	"impermanence-provision", "impermanence-restore", "impermanence-rollback", "impermanence-send"}

// jobs parse their flags with the job shell (--default, --config=,
// --mount); the other binaries have flags of their own.
var jobs = []string{"impermanence-diff", "impermanence-maintain", "impermanence-provision", "impermanence-prune",
	"impermanence-restore", "impermanence-rollback", "impermanence-send", "impermanence-snapshot", "impermanence-tune"}

// cliCases: for every binary an unknown flag, a flag without its value
// and too many arguments; for every job a negative and a garbled
// --lock-timeout; then each binary's own flags with values out of range.
func cliCases() []cliCase {
	var cs []cliCase
	names := make([]string, 0, len(programs))
	for p := range programs {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		def := []string{"--default"}
		if !slices.Contains(jobs, p) {
			def = nil
		}
		cs = append(cs,
			cliCase{p, append(def, "--bogus"), "-bogus"},
			cliCase{p, append(def, "--config"), "-config"},
			cliCase{p, append(def, "--version=maybe"), "-version"},
		)
		if def != nil { // the jobs (job.ParseFlags)
			cs = append(cs, cliCase{p, append(def, "--config="), "--config"})
			if p != "impermanence-tune" { // no --mount: it works on the mountpoints
				cs = append(cs, cliCase{p, append(def, "--mount", ""), "--mount"})
			}
		}
		if slices.Contains(lockJobs, p) {
			cs = append(cs,
				cliCase{p, append(def, "--lock-timeout", "-1s"), "--lock-timeout"},
				cliCase{p, append(def, "--lock-timeout", "forever"), "-lock-timeout"},
				cliCase{p, append(def, "--lock-timeout", "-9223372036854775808ns"), "-lock-timeout"},
			)
		}
	}
	tooMany := map[string]string{
		"impermanence-prune": `"a"`, "impermanence-maintain": `"a"`, "impermanence-provision": `"a"`,
		"impermanence-rollback": `"a"`, "impermanence-send": `"a"`, "impermanence-tune": `"a"`, "impermanence-snapshot": "a:",
		"impermanence-diff": "subvolume a ", "impermanence-restore": "SUBVOLUME",
		"server-impermanence-generator": "", "impermanence-exporter": `"a"`,
		"impermanence-status": `"a"`, "impermanence-notify": `"a"`,
	}
	for _, p := range names {
		if p == "impermanence-receive" {
			continue // its words are the client's request: refused (exit 1) and audited, not a usage error
		}
		args := []string{"--default", "a", "b", "c", "d"}
		if !slices.Contains(jobs, p) {
			args = args[1:]
		}
		if p == "impermanence-restore" {
			args = append([]string{"--from", "x"}, args...)
		}
		cs = append(cs, cliCase{p, args, tooMany[p]})
	}
	long := strings.Repeat("a", 65)
	return append(cs,
		cliCase{"impermanence-snapshot", []string{"--default", "--label", ""}, "--label"},
		cliCase{"impermanence-snapshot", []string{"--default", "--label", long}, "--label"},
		cliCase{"impermanence-snapshot", []string{"--default", "--label", "../x"}, "--label"},
		cliCase{"impermanence-snapshot", []string{"--default", "--label", "a/b"}, "--label"},
		cliCase{"impermanence-snapshot", []string{"--default", "--label", "a\nb"}, "--label"},
		cliCase{"impermanence-snapshot", []string{"--default", "--label", "x", "--expire", "-1s"}, "--expire"},
		cliCase{"impermanence-snapshot", []string{"--default", "--label", "x", "--expire", "0"}, "--expire"},
		cliCase{"impermanence-snapshot", []string{"--default", "--label", "x", "--expire", "300y"}, "--expire"},
		cliCase{"impermanence-snapshot", []string{"--default", "--expire", "1d"}, "--expire"},
		cliCase{"impermanence-snapshot", []string{"--default", "@root"}, "@root"},
		cliCase{"impermanence-snapshot", []string{"--default", "@var-cache"}, "@var-cache"},
		cliCase{"impermanence-snapshot", []string{"--default", "@nix"}, "@nix"},
		cliCase{"impermanence-snapshot", []string{"--default", "../@persist"}, "../@persist"},
		cliCase{"impermanence-prune", []string{"--default", "--min-free", "-5"}, "--min-free"},
		cliCase{"impermanence-prune", []string{"--default", "--min-free", "101"}, "--min-free"},
		cliCase{"impermanence-prune", []string{"--default", "--min-free", "NaN"}, "--min-free"},
		cliCase{"impermanence-prune", []string{"--default", "--wait", "-1s"}, "--wait"},
		cliCase{"impermanence-prune", []string{"--default", "--timezone", "Nowhere/Bogus"}, "--timezone"},
		cliCase{"impermanence-prune", []string{"--default", "--timezone", "../../etc/passwd"}, "--timezone"},
		cliCase{"impermanence-maintain", []string{"--default", "--scrub-budget", "-1s"}, "--scrub-budget"},
		cliCase{"impermanence-maintain", []string{"--default", "--scrub-budget", "0"}, "--scrub-budget"},
		cliCase{"impermanence-maintain", []string{"--default", "--skip-scrub", "--scrub-only"}, "--scrub-only"},
		cliCase{"impermanence-rollback", []string{"--default", "--min-free", "-5"}, "-min-free"},
		cliCase{"impermanence-restore", []string{"--default", "@persist"}, "--from"},
		cliCase{"impermanence-restore", []string{"--default", "--from", "", "@persist"}, "--from"},
		cliCase{"impermanence-restore", []string{"--default", "--from", "x", "--path", "../etc", "@persist"}, "--path"},
		cliCase{"impermanence-provision", []string{"--default", "--replace-blank"}, "--replace-blank"},
		cliCase{"server-impermanence-generator", []string{"--render"}, "-render"},
		cliCase{"server-impermanence-generator", []string{"--check", "--print-default"}, "--print-default"},
		cliCase{"server-impermanence-generator", []string{"--initrd"}, "--initrd"},
		cliCase{"impermanence-receive", nil, "--root"},
		cliCase{"impermanence-receive", []string{"--root", ""}, "--root"},
		cliCase{"impermanence-receive", []string{"--root", "srv/backup"}, "--root"},
		cliCase{"impermanence-receive", []string{"--root", "/srv/../etc"}, "--root"},
		cliCase{"impermanence-receive", []string{"--prune"}, "--root"},
		cliCase{"impermanence-receive", []string{"--root", "/srv/backup", "--dry-run"}, "--dry-run"},
		cliCase{"impermanence-status", []string{"--color", "sometimes"}, "--color"},
		cliCase{"impermanence-status", []string{"--timeout", "-1s"}, "--timeout"},
		cliCase{"impermanence-status", []string{"--timeout", "0"}, "--timeout"},
		cliCase{"impermanence-status", []string{"--config", ""}, "--config"},
		cliCase{"impermanence-notify", nil, "UNIT"},
		cliCase{"impermanence-notify", []string{""}, "UNIT"},
		cliCase{"impermanence-notify", []string{"--config", "", "x.service"}, "--config"},
	)
}

// Not usage errors, by design: a restore of a subvolume the configuration
// lacks or resets at boot, and a snapshot that does not exist, are refusals
// recorded as such (restore.json, result refused) after the filesystem is
// reached; the exporter's --listen that cannot be bound fails at the bind
// (its own tests cover its command line).

// TestHostileCommandLines: every case is a usage error: exit 2, a message
// naming the flag or argument, nothing on stdout, nothing written in the
// sandbox (with root; /run, /var/lib and /var/log are the test's). The
// golden file pins every message.
func TestHostileCommandLines(t *testing.T) {
	need(t, false)
	var sb *sandbox
	if isRoot() {
		sb = newSandbox(t)
	}
	before := sb.tree(t)
	cases := cliCases()
	results := make([]result, len(cases))
	parallel(len(cases), func(i int) { results[i] = sb.run(t, cases[i].program, cases[i].args...) })
	var golden strings.Builder
	for i, c := range cases {
		r := results[i]
		fmt.Fprintf(&golden, "## %s %q\nexit %d\n%s", c.program, c.args, r.code, short(firstLines(r.stderr, 2)))
		if r.code != 2 || !strings.Contains(r.stderr, c.names) || r.stdout != "" {
			t.Errorf("%s %q: exit %d, want 2 naming %q; stdout %q\nstderr: %s", c.program, c.args, r.code, c.names, r.stdout, r.stderr)
		}
	}
	if diff := cmp.Diff(before, sb.tree(t)); diff != "" {
		t.Errorf("the runs wrote in /run, /var/lib or /var/log (-before +after):\n%s", diff)
	}
	count("command lines", len(cases))
	t.Logf("%d hostile command lines: each a usage error naming its flag, nothing written", len(cases))
	compareGolden(t, "testdata/cli.golden", golden.String())
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}
