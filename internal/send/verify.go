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
	"github.com/server-impermanence/server-impermanence/internal/replicate"
	"github.com/server-impermanence/server-impermanence/internal/targetstate"
)

// Check is the verdict over one subvolume of one target.
type Check struct {
	Target    string `json:"target"`
	Subvolume string `json:"subvolume"`
	// Held counts the received snapshots the target holds.
	Held int `json:"held"`
	// Parent is the newest snapshot both sides hold now ("" for none).
	Parent   string   `json:"parent,omitempty"`
	Problems []string `json:"problems,omitempty"`
	Notes    []string `json:"notes,omitempty"`
}

// verifyChain compares what the target holds with what the source holds
// and with the record of the last send: the chain holds when the next
// send can be incremental and nothing the target held is gone (an
// append-only target's own retention may delete old snapshots: a note,
// not a problem, unless it is the parent).
func verifyChain(target, sv string, src []replicate.Source, held []replicate.Held, rec targetstate.Subvolume, appendOnly bool) Check {
	c := Check{Target: target, Subvolume: sv, Parent: replicate.Common(src, held)}
	onTarget := map[string]string{} // received UUID → name
	for _, h := range held {
		if h.ReceivedUUID != "" {
			onTarget[h.ReceivedUUID] = h.Name
			c.Held++
		}
	}
	onSource := map[string]bool{}
	for _, s := range src {
		onSource[s.UUID] = true
	}
	if rec.ParentUUID != "" {
		switch {
		case onTarget[rec.ParentUUID] == "":
			c.Problems = append(c.Problems, fmt.Sprintf("the parent of the last send, %s, is gone from the target", rec.Parent))
		case !onSource[rec.ParentUUID]:
			c.Problems = append(c.Problems, fmt.Sprintf("the parent of the last send, %s, is gone from the source", rec.Parent))
		}
	}
	if c.Parent == "" && len(src) > 0 && c.Held > 0 {
		c.Problems = append(c.Problems, "no snapshot both sides hold: the next send is a full one")
	}
	for _, s := range rec.Snapshots {
		if onTarget[s.ReceivedUUID] != "" || s.ReceivedUUID == rec.ParentUUID {
			continue
		}
		msg := fmt.Sprintf("%s (received from %s) was on the target at the last send and is gone", s.Name, s.ReceivedUUID)
		if appendOnly {
			c.Notes = append(c.Notes, msg+" (the backup host's retention)")
		} else {
			c.Problems = append(c.Problems, msg)
		}
	}
	for _, h := range held {
		if h.ReceivedUUID == "" {
			c.Notes = append(c.Notes, h.Name+" is not a received read-only snapshot: never touched")
		}
	}
	return c
}

// Verification is the output of verify.
type Verification struct {
	Checks []Check `json:"checks"`
	// Streams are the stored streams of stream targets, each checked.
	Streams []StreamCheck     `json:"streams,omitempty"`
	Errors  map[string]string `json:"errors,omitempty"`
}

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
	src, err := listSources(s)
	if err != nil {
		fmt.Fprintf(env.Stderr, "%s: %v\n", program, err)
		return job.ExitFailure
	}
	bySV := src.bySV
	out := Verification{Checks: []Check{}}
	code := job.ExitOK
	fail := func(t, msg string) {
		if out.Errors == nil {
			out.Errors = map[string]string{}
		}
		out.Errors[t], code = msg, job.ExitFailure
	}
	for _, t := range targets {
		if t.Format == config.FormatStream {
			cs, err := verifyStream(s, t)
			out.Streams = append(out.Streams, cs...)
			if err != nil {
				fail(t.Name, err.Error())
			}
			if damagedStreams(cs) > 0 {
				code = job.ExitFailure
			}
			continue
		}
		l, err := targetOf(t, s.Env.RunDir())
		if err == nil {
			err = l.check(ctx, s.FS.FSID())
		}
		if err != nil {
			fail(t.Name, err.Error())
			continue
		}
		defer l.close()
		rec, _ := targetstate.Read(s.Env.StateDir(), t.Name)
		for _, sv := range t.Subvolumes {
			held, err := l.list(ctx, sv)
			if err != nil {
				fail(t.Name, err.Error())
				continue
			}
			c := verifyChain(t.Name, sv, bySV[sv], held, rec.Subvolumes[sv], l.appendOnly())
			if len(c.Problems) > 0 {
				code = job.ExitFailure
			}
			out.Checks = append(out.Checks, c)
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
	for _, c := range v.Checks {
		state := "ok"
		if len(c.Problems) > 0 {
			state = "BROKEN"
		}
		parent := "no parent"
		if c.Parent != "" {
			parent = "parent " + c.Parent
		}
		fmt.Fprintf(w, "%s %s: %s (%d received snapshots, %s)\n", c.Target, c.Subvolume, state, c.Held, parent)
		for _, p := range c.Problems {
			fmt.Fprintf(w, "%s %s: problem: %s\n", c.Target, c.Subvolume, p)
		}
		for _, n := range c.Notes {
			fmt.Fprintf(w, "%s %s: note: %s\n", c.Target, c.Subvolume, n)
		}
	}
}
