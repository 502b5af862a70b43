// Package journal is a log/slog handler that writes structured entries to
// the systemd journal through go-systemd's native protocol: every attribute
// becomes a journal field (upper-cased, invalid characters replaced by "_"),
// with PRIORITY from the level, SYSLOG_IDENTIFIER of the helper and the
// MESSAGE_ID of the event kind (internal/msgid) when the record has one.
// When no journal is listening (no /run/systemd/journal/socket, as in an
// early initrd without journald or in a container), New falls back to a
// text handler on stderr, so nothing is lost.
package journal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	sdjournal "github.com/coreos/go-systemd/v22/journal"
)

// ErrorKey is the attribute key of an error in every log entry of the
// suite (the journal field ERROR); "err" is never used.
const ErrorKey = "error"

// MessageIDKey is the attribute key of the MESSAGE_ID field.
const MessageIDKey = "MESSAGE_ID"

// MessageID returns the attribute that sets the entry's MESSAGE_ID.
func MessageID(id string) slog.Attr { return slog.String(MessageIDKey, id) }

// SendFunc sends one journal entry (go-systemd's journal.Send).
type SendFunc func(message string, priority sdjournal.Priority, vars map[string]string) error

// Options configure New.
type Options struct {
	// Identifier is SYSLOG_IDENTIFIER, the helper's name.
	Identifier string
	// Level is the lowest level logged (default Info).
	Level slog.Leveler
	// Stderr receives the entries when there is no journal, and the entries
	// the journal refused.
	Stderr io.Writer
	// Enabled reports whether a journal listens; default journal.Enabled.
	Enabled func() bool
	// Send defaults to journal.Send.
	Send SendFunc
}

// New returns a logger that writes to the journal if one listens, else to
// stderr as text.
func New(o Options) *slog.Logger {
	return slog.New(NewHandler(o))
}

// NewHandler returns the journal handler, or a text handler on o.Stderr when
// no journal listens.
func NewHandler(o Options) slog.Handler {
	enabled := o.Enabled
	if enabled == nil {
		enabled = sdjournal.Enabled
	}
	if !enabled() {
		return stderrHandler(o)
	}
	send := o.Send
	if send == nil {
		send = sdjournal.Send
	}
	return &Handler{opts: o, send: send, fallback: stderrHandler(o)}
}

func stderrHandler(o Options) slog.Handler {
	w := o.Stderr
	if w == nil {
		w = io.Discard
	}
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: o.Level})
}

// Handler writes records to the journal.
type Handler struct {
	opts     Options
	send     SendFunc
	fallback slog.Handler
	attrs    []slog.Attr // from WithAttrs, already prefixed by their groups
	group    string      // prefix for the attributes of later calls
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.opts.Level != nil {
		min = h.opts.Level.Level()
	}
	return l >= min
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(c.attrs[:len(c.attrs):len(c.attrs)], prefixed(h.group, as)...)
	c.fallback = h.fallback.WithAttrs(as)
	return &c
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group = h.group + name + "_"
	c.fallback = h.fallback.WithGroup(name)
	return &c
}

func prefixed(group string, as []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		out = append(out, slog.Attr{Key: group + a.Key, Value: a.Value})
	}
	return out
}

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	vars := map[string]string{}
	if h.opts.Identifier != "" {
		vars["SYSLOG_IDENTIFIER"] = h.opts.Identifier
	}
	for _, a := range h.attrs {
		addVar(vars, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addVar(vars, h.group, a)
		return true
	})
	err := h.send(r.Message, Priority(r.Level), vars)
	if err != nil {
		// The journal went away (e.g. stopped for switch-root): keep the entry.
		return h.fallback.Handle(ctx, r)
	}
	return nil
}

// Priority maps a slog level to a syslog priority.
func Priority(l slog.Level) sdjournal.Priority {
	switch {
	case l >= slog.LevelError:
		return sdjournal.PriErr
	case l >= slog.LevelWarn:
		return sdjournal.PriWarning
	case l >= slog.LevelInfo:
		return sdjournal.PriInfo
	}
	return sdjournal.PriDebug
}

func addVar(vars map[string]string, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "_"
		}
		for _, g := range a.Value.Group() {
			addVar(vars, p, g)
		}
		return
	}
	name := FieldName(prefix + a.Key)
	if name == "" {
		return
	}
	vars[name] = value(a.Value)
}

func value(v slog.Value) string {
	switch v.Kind() {
	case slog.KindDuration:
		return v.Duration().String()
	case slog.KindTime:
		return v.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
		return fmt.Sprint(v.Any())
	}
	return v.String()
}

// FieldName turns an attribute key into a valid journal field name:
// upper case, characters other than A-Z, 0-9 and "_" replaced by "_", no
// leading "_" (those are trusted fields) or digit, at most 64 bytes. It
// returns "" when nothing is left.
func FieldName(key string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(key) {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_0123456789")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
