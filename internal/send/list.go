package send

import (
	"bufio"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/server-impermanence/server-impermanence/internal/buildinfo"
	"github.com/server-impermanence/server-impermanence/internal/config"
	"github.com/server-impermanence/server-impermanence/internal/job"
	"github.com/server-impermanence/server-impermanence/internal/names"
	"github.com/server-impermanence/server-impermanence/internal/replicate"
)

// Row is one snapshot of one subvolume of one target, on either side.
type Row struct {
	Target    string `json:"target"`
	Subvolume string `json:"subvolume"`
	Name      string `json:"name"`
	Source    bool   `json:"source"`
	OnTarget  bool   `json:"on_target"`
	// Parent marks the newest snapshot both sides hold.
	Parent bool `json:"parent,omitempty"`
	// Note says what is odd: a name clash, a subvolume not received.
	Note string `json:"note,omitempty"`
}

// Listing is the output of list.
type Listing struct {
	Rows   []Row             `json:"rows"`
	Errors map[string]string `json:"errors,omitempty"`
}

func runList(ctx context.Context, args []string, env job.Env) int {
	fl := flag.NewFlagSet(program+" list", flag.ContinueOnError)
	fl.SetOutput(env.Stderr)
	var f job.Flags
	f.RegisterReadOnly(fl)
	target := fl.String("target", "", "list the target called `NAME` only")
	fl.Usage = func() { fmt.Fprint(env.Stderr, usage); fl.PrintDefaults() }
	if done, code := job.ParseFlags(fl, args, &f, env, func() string { return buildinfo.String(program) }); done {
		return code
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
	out := Listing{Rows: []Row{}}
	code := job.ExitOK
	for _, t := range targets {
		if t.Format == config.FormatStream {
			code = max(code, out.addStream(s, t, bySV))
			continue
		}
		l, err := targetOf(t, s.Env.RunDir())
		if err == nil {
			err = l.check(ctx, s.FS.FSID())
		}
		if err != nil {
			out.addError(t.Name, err.Error())
			code = job.ExitFailure
			continue
		}
		defer l.close() // at the end of the listing: one per target
		held, errs := listAll(ctx, l, t.Subvolumes)
		for i, sv := range t.Subvolumes {
			if errs[i] != nil {
				out.addError(t.Name, errs[i].Error())
				code = job.ExitFailure
				continue
			}
			out.Rows = append(out.Rows, rows(t.Name, sv, bySV[sv], held[i])...)
		}
	}
	// One write per 64 KiB, not one per table cell (tabwriter writes each
	// cell and its padding separately: 63,000 writes for 5,000 rows).
	w := bufio.NewWriterSize(env.Stdout, 64<<10)
	job.Print(w, f.JSON, out, out.print)
	if err := w.Flush(); err != nil {
		fmt.Fprintf(env.Stderr, "%s: write the list: %v\n", program, err)
		code = job.ExitFailure
	}
	for t, e := range out.Errors {
		fmt.Fprintf(env.Stderr, "%s: target %s: %s\n", program, t, e)
	}
	return code
}

func (l *Listing) addError(target, msg string) {
	if l.Errors == nil {
		l.Errors = map[string]string{}
	}
	l.Errors[target] = msg
}

// rows joins both sides of one subvolume by received UUID, oldest first.
func rows(target, sv string, src []replicate.Source, held []replicate.Held) []Row {
	parent := replicate.Common(src, held)
	byUUID := map[string]string{}
	for _, s := range src {
		byUUID[s.UUID] = s.Name
	}
	srcNames := map[string]string{}
	for _, s := range src {
		srcNames[s.Name] = s.UUID
	}
	var out []Row
	matched := map[string]bool{}
	for _, h := range held {
		r := Row{Target: target, Subvolume: sv, Name: h.Name, OnTarget: true}
		switch name, ok := byUUID[h.ReceivedUUID]; {
		case h.ReceivedUUID == "":
			r.Note = "not a received snapshot"
		case ok:
			r.Source, matched[name] = true, true
			if name != h.Name {
				r.Note = "received from source snapshot " + name
			}
			r.Parent = name == parent
		default:
			if _, clash := srcNames[h.Name]; clash {
				r.Note = "another snapshot than the source's of this name"
			}
		}
		out = append(out, r)
	}
	for _, s := range src {
		if !matched[s.Name] {
			out = append(out, Row{Target: target, Subvolume: sv, Name: s.Name, Source: true})
		}
	}
	slices.SortFunc(out, func(a, b Row) int {
		ta, _, _ := names.ParseSnapshot(a.Name)
		tb, _, _ := names.ParseSnapshot(b.Name)
		return cmp.Or(ta.Compare(tb), strings.Compare(a.Name, b.Name), cmp.Compare(btoi(a.OnTarget), btoi(b.OnTarget)))
	})
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// listHeader is the table's header; every column but the last is padded
// to its widest cell and two spaces, as text/tabwriter (padding 2) would.
var listHeader = [...]string{"TARGET", "SUBVOLUME", "SNAPSHOT", "SOURCE", "TARGET", "NOTE"}

// print writes the table, a line per write: the widths are found first,
// then each line is built in one buffer (tabwriter kept every cell of
// 5,000 rows, 2.7 MB, to do the same).
func (l Listing) print(w io.Writer) {
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "-"
	}
	cells := func(r *Row) [len(listHeader) - 1]string {
		return [...]string{r.Target, r.Subvolume, r.Name, yes(r.Source), yes(r.OnTarget)}
	}
	var width [len(listHeader) - 1]int
	for i := range width {
		width[i] = utf8.RuneCountInString(listHeader[i])
	}
	for i := range l.Rows {
		for c, s := range cells(&l.Rows[i]) {
			width[c] = max(width[c], utf8.RuneCountInString(s))
		}
	}
	line := make([]byte, 0, 256)
	write := func(cs [len(listHeader) - 1]string, note string) {
		line = line[:0]
		for c, s := range cs {
			line = append(line, s...)
			for range width[c] + 2 - utf8.RuneCountInString(s) {
				line = append(line, ' ')
			}
		}
		line = append(append(line, note...), '\n')
		w.Write(line)
	}
	write([len(listHeader) - 1]string(listHeader[:len(listHeader)-1]), listHeader[len(listHeader)-1])
	for i := range l.Rows {
		r := &l.Rows[i]
		note := r.Note
		if r.Parent {
			note = strings.TrimPrefix(note+"; parent (newest on both sides)", "; ")
		}
		write(cells(r), note)
	}
}
