package send

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
)

// Verification is the output of verify.
type Verification struct {
	// Streams are the stored streams of stream targets, each checked.
	Streams []StreamCheck `json:"streams,omitempty"`
	// Skipped says why a target was not verified.
	Skipped map[string]string `json:"skipped,omitempty"`
	Errors  map[string]string `json:"errors,omitempty"`
}

// runVerify checks what the targets hold: every stream a stream target
// stores against its manifest (verifyStream).
func runVerify(ctx context.Context, args []string, env job.Env) int {
	fl := flag.NewFlagSet(program+" verify", flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.RegisterReadOnly(fl)
	target := fl.String("target", "", "verify the target called `NAME` only")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults() }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if fl.NArg() > 0 {
		return job.Usage(env, program, "unexpected argument %q", fl.Arg(0))
	}
	s, targets, err := open(ctx, env, f, *target, true)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		if strings.Contains(err.Error(), errUsage.Error()) {
			return job.ExitUsage
		}
		return job.ExitFailure
	}
	defer s.Close()
	out := Verification{}
	code := job.ExitOK
	note := func(m *map[string]string, t, msg string) {
		if *m == nil {
			*m = map[string]string{}
		}
		(*m)[t] = msg
	}
	for _, t := range targets {
		if t.Format != config.FormatStream {
			note(&out.Skipped, t.Name, "a btrfs target: btrfs checksums what it holds (run a scrub on the target's filesystem)")
			continue
		}
		cs, err := verifyStream(s, t)
		out.Streams = append(out.Streams, cs...)
		if err != nil {
			note(&out.Errors, t.Name, err.Error())
			code = job.ExitFailure
		}
		if damagedStreams(cs) > 0 {
			code = job.ExitFailure
		}
	}
	job.Print(env.Stdout, f.JSON, out, out.print)
	for t, e := range out.Errors {
		fmt.Fprintf(env.Stderr, "%s: target %s: %s\n", program, t, e)
	}
	return code
}

func (v Verification) print(w io.Writer) {
	printStreamChecks(w, v.Streams)
	for t, why := range v.Skipped {
		fmt.Fprintf(w, "%s: skipped: %s\n", t, why)
	}
}
