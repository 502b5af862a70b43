package flagparse_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/server-impermanence/server-impermanence/internal/diff"
	"github.com/server-impermanence/server-impermanence/internal/exporter"
	"github.com/server-impermanence/server-impermanence/internal/generator"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/maintain"
	"github.com/server-impermanence/server-impermanence/internal/notify"
	"github.com/server-impermanence/server-impermanence/internal/provision"
	"github.com/server-impermanence/server-impermanence/internal/prune"
	"github.com/server-impermanence/server-impermanence/internal/receive"
	"github.com/server-impermanence/server-impermanence/internal/restore"
	"github.com/server-impermanence/server-impermanence/internal/rollback"
	"github.com/server-impermanence/server-impermanence/internal/send"
	"github.com/server-impermanence/server-impermanence/internal/snapshot"
	"github.com/server-impermanence/server-impermanence/internal/status"
	"github.com/server-impermanence/server-impermanence/internal/tune"
)

// programs is every binary's Run (helpers/*, the generator, the exporter)
// and the subcommands with flags of their own, by the name their usage
// errors carry.
var programs = []struct {
	name string
	args []string // before the bad flag: the subcommand
	run  func(args []string, stderr io.Writer) int
}{
	{"impermanence-diff", nil, func(a []string, w io.Writer) int { return diff.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-maintain", nil, func(a []string, w io.Writer) int { return maintain.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-notify", nil, func(a []string, w io.Writer) int { return notify.Run(ctx, a, notify.Env{Env: job.Env{Stderr: w}}) }},
	{"impermanence-provision", nil, func(a []string, w io.Writer) int { return provision.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-prune", nil, func(a []string, w io.Writer) int { return prune.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-receive", nil, func(a []string, w io.Writer) int {
		return receive.Run(ctx, a, receive.Env{Env: job.Env{Stderr: w}, Stdin: strings.NewReader("")})
	}},
	{"impermanence-restore", nil, func(a []string, w io.Writer) int { return restore.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-rollback", nil, func(a []string, w io.Writer) int { return rollback.Run(ctx, a, rollback.Env{Env: job.Env{Stderr: w}}) }},
	{"impermanence-send", nil, func(a []string, w io.Writer) int { return send.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-send list", []string{"list"}, func(a []string, w io.Writer) int { return send.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-send verify", []string{"verify"}, func(a []string, w io.Writer) int { return send.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-snapshot", nil, func(a []string, w io.Writer) int { return snapshot.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-snapshot list", []string{"list"}, func(a []string, w io.Writer) int { return snapshot.Run(ctx, a, job.Env{Stderr: w}) }},
	{"impermanence-status", nil, func(a []string, w io.Writer) int { return status.Run(ctx, a, status.Env{Env: job.Env{Stderr: w}}) }},
	{"impermanence-tune", nil, func(a []string, w io.Writer) int { return tune.Run(ctx, a, tune.Env{Env: job.Env{Stderr: w}}) }},
	{"impermanence-exporter", nil, func(a []string, w io.Writer) int { return exporter.Run(a, exporter.Deps{Stderr: w}) }},
	{"server-impermanence-generator", nil, func(a []string, w io.Writer) int { return generator.Run(a, generator.Env{Stderr: w}) }},
}

var ctx = context.Background()

// TestEveryProgramReportsParseErrors: every binary (and subcommand) says an
// unknown flag, a bad value and a missing argument as "PROGRAM: error" and
// one line pointing to --help, prints nothing else and exits 2.
func TestEveryProgramReportsParseErrors(t *testing.T) {
	bad := []struct {
		args []string
		err  string
	}{
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"--version=maybe"}, `invalid boolean value "maybe" for -version: parse error`},
	}
	for _, p := range programs {
		for _, b := range bad {
			var stderr bytes.Buffer
			args := append(append([]string{}, p.args...), b.args...)
			code := p.run(args, &stderr)
			want := p.name + ": " + b.err + "\nRun '" + p.name + " --help' for the usage.\n"
			if code != job.ExitUsage || stderr.String() != want {
				t.Errorf("%s %q = %d, stderr %q; want %d, %q", p.name, b.args, code, stderr.String(), job.ExitUsage, want)
			}
		}
	}
}

// TestProgramsCoverHelpers: the table above has every helper under
// helpers/, so a new binary is checked too.
func TestProgramsCoverHelpers(t *testing.T) {
	dirs, err := filepath.Glob("../../helpers/*/main.go")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no helpers found: %v", err)
	}
	have := map[string]bool{}
	for _, p := range programs {
		have[p.name] = true
	}
	for _, d := range dirs {
		name := "impermanence-" + filepath.Base(filepath.Dir(d))
		if !have[name] {
			t.Errorf("%s (%s) is not in programs", name, d)
		}
	}
	if _, err := os.Stat("../../exporter/main.go"); err != nil {
		t.Errorf("the exporter moved: %v", err)
	}
}
