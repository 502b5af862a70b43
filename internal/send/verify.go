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

// Checked is one stored stream verified.
type Checked struct {
	Target    string `json:"target"`
	Subvolume string `json:"subvolume"`
	File      string `json:"file"`
	Bytes     int64  `json:"bytes"`
	// Problem is what is wrong with it; "" when it matches the manifest.
	Problem string `json:"problem,omitempty"`
}

// Verification is the output of verify.
type Verification struct {
	Checked []Checked `json:"checked"`
	// Skipped says why a target was not verified (a btrfs target).
	Skipped map[string]string `json:"skipped,omitempty"`
	Errors  map[string]string `json:"errors,omitempty"`
}

// runVerify recomputes the checksum of every stream a stream target
// stores and compares it with the manifest.
func runVerify(ctx context.Context, args []string, env job.Env) int {
	fl := flag.NewFlagSet(program+" verify", flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.RegisterReadOnly(fl)
	target := fl.String("target", "", "verify the target called `NAME` only")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults(); fmt.Fprint(env.Stderr, verifyHelp) }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
	}
	if fl.NArg() > 0 {
		return job.Usage(env, program+" verify", "unexpected argument %q", fl.Arg(0))
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
	out := Verification{Checked: []Checked{}}
	code := job.ExitOK
	for _, t := range targets {
		if job.Stopped(ctx) != nil {
			break
		}
		if t.Format != config.FormatStream {
			out.note(&out.Skipped, t.Name, "a btrfs target: btrfs checksums what it holds (run a scrub on the target's filesystem)")
			continue
		}
		st, _, _, _, err := openStream(s, t)
		if err != nil {
			out.note(&out.Errors, t.Name, err.Error())
			code = job.ExitFailure
			continue
		}
		for _, sv := range t.Subvolumes {
			m, err := st.Read(sv)
			if err != nil {
				out.note(&out.Errors, t.Name, err.Error())
				code = job.ExitFailure
				continue
			}
			for _, x := range m.Streams {
				c := Checked{Target: t.Name, Subvolume: sv, File: x.File, Bytes: x.Size}
				if d := st.Verify(sv, x); d != nil {
					c.Problem = d.Problem
					code = job.ExitFailure
					s.Log.Error(fmt.Sprintf("stream %s/%s on %s is damaged: %s", sv, x.File, t.Name, d.Problem), "target", t.Name, "subvolume", sv, "file", x.File)
				}
				out.Checked = append(out.Checked, c)
			}
		}
	}
	job.Print(env.Stdout, f.JSON, out, out.print)
	for t, e := range out.Errors {
		fmt.Fprintf(env.Stderr, "%s: target %s: %s\n", program, t, e)
	}
	if code != job.ExitOK && len(out.Errors) == 0 {
		fmt.Fprintf(env.Stderr, "%s: %d of %d streams damaged\n", program, out.damaged(), len(out.Checked))
	}
	return code
}

const verifyHelp = `
verify: recomputes the SHA-256 of every stream a stream target stores and
compares it and the size with the target's manifest. Exit status: 0 every
stream matches, 1 a stream is damaged or missing (named in the output) or a
target could not be read, 2 usage error.
`

func (v *Verification) note(m *map[string]string, target, msg string) {
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[target] = msg
}

func (v Verification) damaged() int {
	n := 0
	for _, c := range v.Checked {
		if c.Problem != "" {
			n++
		}
	}
	return n
}

func (v Verification) print(w io.Writer) {
	for _, c := range v.Checked {
		if c.Problem == "" {
			fmt.Fprintf(w, "%s: ok %s/%s (%d bytes)\n", c.Target, c.Subvolume, c.File, c.Bytes)
		} else {
			fmt.Fprintf(w, "%s: DAMAGED %s/%s: %s\n", c.Target, c.Subvolume, c.File, c.Problem)
		}
	}
	for t, why := range v.Skipped {
		fmt.Fprintf(w, "%s: skipped: %s\n", t, why)
	}
}
