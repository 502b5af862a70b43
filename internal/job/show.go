package job

import (
	"bytes"
	"context"
	"io"
	"log/slog"

	"github.com/server-impermanence/server-impermanence/internal/btrfs"
)

// A job reaches a private top level through a descriptor
// (/proc/<pid>/fd/<n>, btrfs.MountTopLevel) and builds every path of the
// filesystem below it, so the errors of the operations on those paths name
// them. Such a path names nothing outside the process: what leaves a job
// shows it as <device>:/<path> (btrfs.ShowText) at the few places where it
// leaves, not at each of the many errors that may carry one: the job's
// output (ShowPaths), its log (Logger), its state record (Record,
// RecordFailure) and its audit events (AuditEvent).

// ShowPaths returns e with Stdout and Stderr showing the paths below a
// detached top level as btrfs.ShowText does. The jobs that reach the
// filesystem call it after WithDefaults. Not for a Stdout that carries
// data (a send stream): the rewriting is of text, one Write at a time.
func (e Env) ShowPaths() Env {
	e.Stdout, e.Stderr = showWriter(e.Stdout), showWriter(e.Stderr)
	return e
}

func showWriter(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	if _, ok := w.(showingWriter); ok {
		return w
	}
	return showingWriter{w}
}

// showingWriter rewrites each Write; the writers of the jobs' text (fmt,
// the JSON encoder, tabwriter's cells, the log handler) write a path in
// one Write.
type showingWriter struct{ w io.Writer }

// Unwrap returns the writer it writes to, so that progress.Terminal still
// sees the terminal below.
func (s showingWriter) Unwrap() io.Writer { return s.w }

var procPrefix = []byte("/proc/")

func (s showingWriter) Write(p []byte) (int, error) {
	if !bytes.Contains(p, procPrefix) {
		return s.w.Write(p)
	}
	if _, err := io.WriteString(s.w, btrfs.ShowText(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// showHandler shows the paths in a log record's message and string and
// error attributes.
type showHandler struct{ h slog.Handler }

func (s showHandler) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }

func (s showHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, btrfs.ShowText(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(showAttr(a))
		return true
	})
	return s.h.Handle(ctx, out)
}

func (s showHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	shown := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		shown[i] = showAttr(a)
	}
	return showHandler{s.h.WithAttrs(shown)}
}

func (s showHandler) WithGroup(name string) slog.Handler { return showHandler{s.h.WithGroup(name)} }

func showAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, btrfs.ShowText(v.String()))
	case slog.KindGroup:
		g := v.Group()
		shown := make([]any, len(g))
		for i, ga := range g {
			shown[i] = showAttr(ga)
		}
		return slog.Group(a.Key, shown...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.Any(a.Key, btrfs.ShowErr(err))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
