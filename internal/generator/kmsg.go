package generator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// kmsgHandler is a slog.Handler writing one record per line to /dev/kmsg
// with a "<N>" priority prefix (facility daemon), as systemd's generators
// log: the journal picks the lines up from the kernel ring buffer with their
// priority. Attributes follow the message as key=value.
type kmsgHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	ident string
	attrs []slog.Attr
	kmsg  bool // w is /dev/kmsg: prefix "<N>", one write per record
}

const facilityDaemon = 3 << 3

// newLogger opens kmsgPath for writing; when that fails (no /dev/kmsg, not
// root) it logs to fallback without the priority prefix.
func newLogger(kmsgPath string, fallback io.Writer, ident string) (*slog.Logger, func()) {
	h := &kmsgHandler{mu: &sync.Mutex{}, w: fallback, ident: ident}
	closer := func() {}
	if kmsgPath != "" {
		if f, err := os.OpenFile(kmsgPath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			h.w, h.kmsg = f, true
			closer = func() { f.Close() }
		}
	}
	return slog.New(h), closer
}

func severity(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	default:
		return 7
	}
}

func (h *kmsgHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *kmsgHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if h.kmsg {
		fmt.Fprintf(&b, "<%d>%s[%d]: ", facilityDaemon|severity(r.Level), h.ident, os.Getpid())
	} else {
		fmt.Fprintf(&b, "%s: ", h.ident)
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	// kmsg takes one record per write; a newline inside would start a
	// record without priority.
	line := strings.ReplaceAll(b.String(), "\n", " ") + "\n"
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, line)
	return err
}

func (h *kmsgHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

func (h *kmsgHandler) WithGroup(string) slog.Handler { return h }
